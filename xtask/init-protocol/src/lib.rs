//! The protocol between `cargo xtask` and `/init` (`xtask/qemu-init`) in the throw-away QEMU VMs:
//! the config file xtask writes into the initramfs, and the marker lines `/init` prints on the
//! console. Both sides use this crate, so the format exists once.
//!
//! # Config file ([`CONFIG_PATH`])
//!
//! Line based, one directive per line: a keyword, one space, and a value that is the rest of the
//! line verbatim (so arguments may contain spaces; they cannot contain newlines). Blank lines and
//! lines starting with `#` are ignored.
//!
//! ```text
//! module /modules/kvm.ko [params]   load a kernel module, in file order
//! require /dev/kvm                  fail setup unless the path exists (checked after modules)
//! env KEY=VALUE                     before the first `command`: for all commands
//! command NAME                      start a command (NAME: no whitespace)
//! exec /bin/test                    the program to run (required)
//! arg --flag                        one argument, repeatable
//! env KEY=VALUE                     after a `command`: for that command only
//! ```
//!
//! A config file rather than the kernel command line: the command line is limited to about
//! 2 KiB, has no quoting that survives into `/init`'s argv, and the kernel grabs any `key=value`
//! it recognises for itself.
//!
//! # Console markers
//!
//! Each [`Marker`] is printed on a line of its own, starting with [`MARK`]:
//!
//! ```text
//! UCALL-INIT: START kernel=<release> machine=<uname -m>
//! UCALL-INIT: MODULE <path> loaded ms=<t>         (per module)
//! UCALL-INIT: WARNING <message>                   (informational)
//! UCALL-INIT: SETUP-ERROR <message>               (then powers off; nothing was run)
//! UCALL-INIT: BEGIN <name>
//! ...the command's own stdout/stderr...
//! UCALL-INIT: END <name> status=<code>|signal=<n>|spawn-error=<msg> ms=<t>
//! UCALL-INIT: DONE total=<n> failed=<m>
//! ```
//!
//! A command without `END`, or a run without `DONE` (kernel panic, `/init` crash, timeout), is a
//! failure; so is any status other than 0.

#![deny(missing_docs, missing_debug_implementations)]

use std::collections::HashSet;
use std::fmt;

/// Where the config is in the initramfs; `/init` reads it from there.
pub const CONFIG_PATH: &str = "/ucall-init.conf";

/// Prefix of every marker line (followed by one space).
pub const MARK: &str = "UCALL-INIT:";

/// What `/init` does: the contents of [`CONFIG_PATH`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Config {
    /// Kernel modules to load, in order.
    pub modules: Vec<Module>,
    /// Paths that must exist once the modules are loaded.
    pub require: Vec<String>,
    /// Environment variables of every command.
    pub env: Vec<(String, String)>,
    /// The commands, run in order, each whatever the previous one did.
    pub commands: Vec<Command>,
}

/// A kernel module for `finit_module`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Module {
    /// Path in the image; no spaces. `.xz`, `.zst` and `.gz` are decompressed by the kernel.
    pub path: String,
    /// Module parameters, as `modprobe` takes them after the name.
    pub params: String,
}

/// One command for `/init`; paths are inside the image.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Command {
    /// Unique, no whitespace: it is how results are reported.
    pub name: String,
    /// The program.
    pub exec: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables of this command only.
    pub env: Vec<(String, String)>,
}

/// A config the line format cannot carry, or a config file that is not in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value holds a newline, a carriage return or a NUL.
    #[error("value {0:?} contains a newline or NUL")]
    LineBreakInValue(String),
    /// A module path holds a space (a space starts its parameters).
    #[error("module path {0:?} contains a space")]
    SpaceInModulePath(String),
    /// An environment variable name that is empty or holds `=`.
    #[error("bad environment variable name {0:?}")]
    BadEnvName(String),
    /// A command name that is empty or holds whitespace.
    #[error("bad command name {0:?}")]
    BadCommandName(String),
    /// Two commands with one name.
    #[error("duplicate command name {0:?}")]
    DuplicateCommand(String),
    /// `exec`, `arg` before the first `command`.
    #[error("line {line}: `{directive}` before any `command`")]
    OutsideCommand {
        /// 1-based line number.
        line: usize,
        /// The directive.
        directive: String,
    },
    /// `env` without `=`.
    #[error("line {line}: env needs KEY=VALUE, got {value:?}")]
    EnvWithoutValue {
        /// 1-based line number.
        line: usize,
        /// What followed `env `.
        value: String,
    },
    /// A keyword this format does not have.
    #[error("line {line}: unknown directive {directive:?}")]
    UnknownDirective {
        /// 1-based line number.
        line: usize,
        /// The keyword.
        directive: String,
    },
    /// A command without `exec`.
    #[error("command {0} has no `exec`")]
    NoExec(String),
}

impl Config {
    /// The config file's text. Fails on values the line format cannot carry.
    pub fn render(&self) -> Result<String, ConfigError> {
        fn value(v: &str) -> Result<&str, ConfigError> {
            if v.contains(['\n', '\r', '\0']) {
                return Err(ConfigError::LineBreakInValue(v.to_string()));
            }
            Ok(v)
        }
        fn env_line(out: &mut String, (k, v): &(String, String)) -> Result<(), ConfigError> {
            if k.is_empty() || k.contains('=') {
                return Err(ConfigError::BadEnvName(k.clone()));
            }
            out.push_str(&format!("env {}={}\n", value(k)?, value(v)?));
            Ok(())
        }
        let mut out = String::from("# ucall-init config, generated by cargo xtask\n");
        for m in &self.modules {
            if m.path.contains(' ') {
                return Err(ConfigError::SpaceInModulePath(m.path.clone()));
            }
            let params = value(&m.params)?;
            let sep = if params.is_empty() { "" } else { " " };
            out.push_str(&format!("module {}{sep}{params}\n", value(&m.path)?));
        }
        for r in &self.require {
            out.push_str(&format!("require {}\n", value(r)?));
        }
        for kv in &self.env {
            env_line(&mut out, kv)?;
        }
        let mut names = HashSet::new();
        for cmd in &self.commands {
            if !is_command_name(&cmd.name) {
                return Err(ConfigError::BadCommandName(cmd.name.clone()));
            }
            if !names.insert(cmd.name.as_str()) {
                return Err(ConfigError::DuplicateCommand(cmd.name.clone()));
            }
            out.push_str(&format!(
                "command {}\nexec {}\n",
                cmd.name,
                value(&cmd.exec)?
            ));
            for a in &cmd.args {
                out.push_str(&format!("arg {}\n", value(a)?));
            }
            for kv in &cmd.env {
                env_line(&mut out, kv)?;
            }
        }
        Ok(out)
    }

    /// Reads a config file's text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        // Whether `exec` was given, per command.
        let mut has_exec = Vec::new();
        for (index, text_line) in text.lines().enumerate() {
            let line = index + 1;
            if text_line.trim().is_empty() || text_line.starts_with('#') {
                continue;
            }
            let (key, value) = text_line.split_once(' ').unwrap_or((text_line, ""));
            let outside = || ConfigError::OutsideCommand {
                line,
                directive: key.to_string(),
            };
            match key {
                "module" => {
                    let (path, params) = value.split_once(' ').unwrap_or((value, ""));
                    config.modules.push(Module {
                        path: path.to_string(),
                        params: params.to_string(),
                    });
                }
                "require" => config.require.push(value.to_string()),
                "command" => {
                    if !is_command_name(value) {
                        return Err(ConfigError::BadCommandName(value.to_string()));
                    }
                    config.commands.push(Command {
                        name: value.to_string(),
                        ..Command::default()
                    });
                    has_exec.push(false);
                }
                "exec" => {
                    let cmd = config.commands.last_mut().ok_or_else(outside)?;
                    cmd.exec = value.to_string();
                    if let Some(seen) = has_exec.last_mut() {
                        *seen = true;
                    }
                }
                "arg" => {
                    let cmd = config.commands.last_mut().ok_or_else(outside)?;
                    cmd.args.push(value.to_string());
                }
                "env" => {
                    let Some((k, v)) = value.split_once('=') else {
                        return Err(ConfigError::EnvWithoutValue {
                            line,
                            value: value.to_string(),
                        });
                    };
                    let kv = (k.to_string(), v.to_string());
                    match config.commands.last_mut() {
                        Some(cmd) => cmd.env.push(kv),
                        None => config.env.push(kv),
                    }
                }
                _ => {
                    return Err(ConfigError::UnknownDirective {
                        line,
                        directive: key.to_string(),
                    });
                }
            }
        }
        if let Some((cmd, _)) = config
            .commands
            .iter()
            .zip(&has_exec)
            .find(|(_, seen)| !**seen)
        {
            return Err(ConfigError::NoExec(cmd.name.clone()));
        }
        Ok(config)
    }
}

fn is_command_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(char::is_whitespace)
}

/// How one command ended, as `/init` reports it in [`Marker::End`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
    /// It could not be started; the reason.
    SpawnError(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(code) => write!(f, "status={code}"),
            Outcome::Signaled(signal) => write!(f, "signal={signal}"),
            // One word: the marker's fields are separated by spaces.
            Outcome::SpawnError(why) => write!(f, "spawn-error={}", why.replace(' ', "_")),
        }
    }
}

impl Outcome {
    fn parse(word: &str) -> Option<Outcome> {
        let (key, value) = word.split_once('=')?;
        match key {
            "status" => value.parse().ok().map(Outcome::Exited),
            "signal" => value.parse().ok().map(Outcome::Signaled),
            "spawn-error" => Some(Outcome::SpawnError(value.replace('_', " "))),
            _ => None,
        }
    }
}

/// One line of the protocol on the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// `/init` runs: the kernel's release and machine (`uname -r`, `uname -m`).
    Start {
        /// `uname -r`.
        kernel: String,
        /// `uname -m`.
        machine: String,
    },
    /// A module was loaded.
    Module {
        /// Its path in the image.
        path: String,
        /// How long `finit_module` took.
        ms: u64,
    },
    /// Something worth seeing that changes nothing.
    Warning(String),
    /// Setup failed; nothing runs, the VM powers off.
    SetupError(String),
    /// A command starts; its output follows.
    Begin(String),
    /// A command ended.
    End {
        /// The command.
        name: String,
        /// How it ended.
        outcome: Outcome,
        /// Its run time inside the VM.
        ms: u64,
    },
    /// Every command ran; the VM powers off.
    Done {
        /// Commands run.
        total: usize,
        /// Commands that did not exit with 0.
        failed: usize,
    },
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{MARK} ")?;
        match self {
            Marker::Start { kernel, machine } => {
                write!(f, "START kernel={kernel} machine={machine}")
            }
            Marker::Module { path, ms } => write!(f, "MODULE {path} loaded ms={ms}"),
            Marker::Warning(text) => write!(f, "WARNING {text}"),
            Marker::SetupError(text) => write!(f, "SETUP-ERROR {text}"),
            Marker::Begin(name) => write!(f, "BEGIN {name}"),
            Marker::End { name, outcome, ms } => write!(f, "END {name} {outcome} ms={ms}"),
            Marker::Done { total, failed } => write!(f, "DONE total={total} failed={failed}"),
        }
    }
}

impl Marker {
    /// Finds a marker in a console line: the text before it (a command's unterminated output
    /// or a kernel message may precede it on the same line) and the marker. `None` if the line
    /// has no [`MARK`] or what follows it is not a marker.
    pub fn find(line: &str) -> Option<(&str, Marker)> {
        let at = line.find(MARK)?;
        let text = line[at + MARK.len()..].strip_prefix(' ')?;
        Some((&line[..at], Marker::parse(text)?))
    }

    /// Whether `/init` prints nothing after this one (and powers off).
    pub fn is_final(&self) -> bool {
        matches!(self, Marker::Done { .. } | Marker::SetupError(_))
    }

    fn parse(text: &str) -> Option<Marker> {
        let (keyword, rest) = text.split_once(' ').unwrap_or((text, ""));
        fn field<'a>(rest: &'a str, key: &str) -> Option<&'a str> {
            rest.split(' ')
                .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        }
        fn number<T: std::str::FromStr>(rest: &str, key: &str) -> Option<T> {
            field(rest, key)?.parse().ok()
        }
        Some(match keyword {
            "START" => Marker::Start {
                kernel: field(rest, "kernel")?.to_string(),
                machine: field(rest, "machine")?.to_string(),
            },
            "MODULE" => Marker::Module {
                path: rest.split(' ').next()?.to_string(),
                ms: number(rest, "ms")?,
            },
            "WARNING" => Marker::Warning(rest.to_string()),
            "SETUP-ERROR" => Marker::SetupError(rest.trim().to_string()),
            "BEGIN" => Marker::Begin(rest.to_string()),
            "END" => {
                let mut words = rest.split(' ');
                Marker::End {
                    name: words.next()?.to_string(),
                    outcome: Outcome::parse(words.next()?)?,
                    ms: number(rest, "ms")?,
                }
            }
            "DONE" => Marker::Done {
                total: number(rest, "total")?,
                failed: number(rest, "failed")?,
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            modules: vec![Module {
                path: "/lib/modules/kvm.ko.xz".into(),
                params: String::new(),
            }],
            require: vec!["/dev/kvm".into()],
            env: vec![("UCALL_GUEST_DIR".into(), "/guests".into())],
            commands: vec![Command {
                name: "a".into(),
                exec: "/bin/a".into(),
                args: vec!["--test-threads=1".into(), "with space".into()],
                env: vec![("K".into(), "v=w".into())],
            }],
        }
    }

    #[test]
    fn a_rendered_config_parses_back_to_itself() {
        let text = config().render().unwrap();
        assert_eq!(Config::parse(&text), Ok(config()));
    }

    #[test]
    fn render_rejects_a_newline_in_an_argument() {
        let mut cfg = config();
        cfg.commands[0].args = vec!["x\ny".into()];
        assert_eq!(
            cfg.render(),
            Err(ConfigError::LineBreakInValue("x\ny".into()))
        );
    }

    #[test]
    fn render_rejects_two_commands_of_one_name() {
        let mut cfg = config();
        cfg.commands.push(cfg.commands[0].clone());
        assert_eq!(cfg.render(), Err(ConfigError::DuplicateCommand("a".into())));
    }

    #[test]
    fn parse_rejects_a_command_without_exec() {
        assert_eq!(
            Config::parse("command a\narg x\n"),
            Err(ConfigError::NoExec("a".into()))
        );
    }

    #[test]
    fn parse_rejects_arg_before_any_command() {
        assert_eq!(
            Config::parse("# c\narg x\n"),
            Err(ConfigError::OutsideCommand {
                line: 2,
                directive: "arg".into()
            })
        );
    }

    #[test]
    fn every_marker_prints_as_it_parses() {
        let markers = [
            Marker::Start {
                kernel: "6.12.1-riscv64".into(),
                machine: "riscv64".into(),
            },
            Marker::Module {
                path: "/lib/modules/kvm.ko.xz".into(),
                ms: 12,
            },
            Marker::Warning("power off failed".into()),
            Marker::SetupError("required path /dev/kvm does not exist".into()),
            Marker::Begin("a".into()),
            Marker::End {
                name: "a".into(),
                outcome: Outcome::SpawnError("No such file".into()),
                ms: 3,
            },
            Marker::End {
                name: "b".into(),
                outcome: Outcome::Signaled(11),
                ms: 4,
            },
            Marker::Done {
                total: 2,
                failed: 2,
            },
        ];
        for marker in markers {
            let line = marker.to_string();
            assert_eq!(Marker::find(&line), Some(("", marker)), "{line}");
        }
    }

    #[test]
    fn a_marker_after_output_on_one_line_is_found_with_that_output() {
        assert_eq!(
            Marker::find("no newline UCALL-INIT: END a status=0 ms=5"),
            Some((
                "no newline ",
                Marker::End {
                    name: "a".into(),
                    outcome: Outcome::Exited(0),
                    ms: 5
                }
            ))
        );
    }

    #[test]
    fn a_malformed_marker_is_no_marker() {
        assert_eq!(Marker::find("UCALL-INIT: END a status=x ms=5"), None);
        assert_eq!(Marker::find("UCALL-INIT: REBOOT"), None);
    }
}
