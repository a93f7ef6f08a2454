//! One figure: its samples, one per round, and their median, min and max.

/// One figure's samples, one per round.
pub(crate) struct Figure {
    pub(crate) name: String,
    pub(crate) unit: &'static str,
    pub(crate) samples: Vec<f64>,
}

impl Figure {
    pub(crate) fn new(name: impl Into<String>, unit: &'static str) -> Self {
        Figure {
            name: name.into(),
            unit,
            samples: Vec::new(),
        }
    }

    pub(crate) fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    pub(crate) fn median(&self) -> f64 {
        median(&mut self.sorted())
    }

    pub(crate) fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub(crate) fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

/// `of / to`, round by round.
pub(crate) fn ratio(name: &str, of: &Figure, to: &Figure) -> Figure {
    let mut figure = Figure::new(name, "ratio");
    figure.samples = of
        .samples
        .iter()
        .zip(&to.samples)
        .map(|(a, b)| a / b)
        .collect();
    figure
}

/// The median of `values`, which it sorts.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
