//! A results folder as a type: where a run's folder goes, and the files
//! written into it besides the phases' (whose names are in
//! [`super::files`]). The load generator writes through it, the report
//! reads through it.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Summary, files};

/// One results folder: a run's, a shard's, or a merge of shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFolder {
    path: PathBuf,
}

/// The UTC date and time that starts folder names: `2026-11-27T153446`.
pub fn folder_stamp() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "")
        .trim_end_matches('Z')
        .to_owned()
}

impl RunFolder {
    /// Creates `root/<UTC date and time>-<name><suffix>/`, with `-2`, `-3`
    /// … appended when that is taken.
    pub fn create(root: &Path, name: &str, suffix: &str) -> io::Result<RunFolder> {
        let stamp = folder_stamp();
        let mut path = root.join(format!("{stamp}-{name}{suffix}"));
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = root.join(format!("{stamp}-{name}{suffix}-{n}"));
        }
        fs::create_dir_all(&path)?;
        Ok(RunFolder { path })
    }

    /// The folder at `path`, made if missing (a merge's output).
    pub fn at(path: &Path) -> io::Result<RunFolder> {
        fs::create_dir_all(path)?;
        Ok(RunFolder {
            path: path.to_owned(),
        })
    }

    /// The existing results folder `dir`, if it is one (it has its
    /// `summary.json`).
    pub fn open(dir: &Path) -> Option<RunFolder> {
        RunFolder::is_results(dir).then(|| RunFolder {
            path: dir.to_owned(),
        })
    }

    /// Whether `dir` holds a run's results (its `summary.json`).
    pub fn is_results(dir: &Path) -> bool {
        dir.join(files::SUMMARY).is_file()
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file `name` in it.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `summary.json`.
    pub fn write_summary(&self, summary: &Summary) -> io::Result<()> {
        summary.write(&self.path)
    }

    /// Writes `run.md`, the run's record for people.
    pub fn write_run_md(&self, text: &str) -> io::Result<()> {
        fs::write(self.file(files::RUN_MD), text)
    }

    /// Appends to `run.md`.
    pub fn append_run_md(&self, text: &str) -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.file(files::RUN_MD))?;
        f.write_all(text.as_bytes())
    }

    /// Writes the scenario file as run (worker processes read it, and
    /// reports show it).
    pub fn write_scenario(&self, source: &str) -> io::Result<()> {
        fs::write(self.file(files::SCENARIO), source)
    }

    /// The scenario file as run, when the folder has it.
    pub fn read_scenario(&self) -> Option<String> {
        fs::read_to_string(self.file(files::SCENARIO)).ok()
    }

    /// Writes the builtin server's last stderr lines.
    pub fn write_server_log(&self, lines: &[String]) -> io::Result<()> {
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(self.file(files::SERVER_LOG), text)
    }

    /// The folder a worker process writes its part of phase `transport`
    /// into.
    pub fn worker_dir(&self, transport: &str, index: u64) -> PathBuf {
        self.path
            .join(files::SHARDS)
            .join(format!("{transport}-{index}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_dated_and_never_reused() {
        let root = std::env::temp_dir().join(format!("wsbench-folder-{}", std::process::id()));
        let a = RunFolder::create(&root, "demo", "").unwrap();
        let b = RunFolder::create(&root, "demo", "").unwrap();
        assert_ne!(a, b);
        let name = a.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with("-demo") && name.starts_with("20"), "{name}");
        a.write_run_md("# run\n").unwrap();
        a.append_run_md("more\n").unwrap();
        assert_eq!(
            fs::read_to_string(a.file(files::RUN_MD)).unwrap(),
            "# run\nmore\n"
        );
        assert!(!RunFolder::is_results(a.path()));
        a.write_scenario("name = \"demo\"\n").unwrap();
        assert_eq!(a.read_scenario().as_deref(), Some("name = \"demo\"\n"));
        fs::remove_dir_all(&root).unwrap();
    }
}
