//! Log watching: follow a log file across rotation and turn matching lines
//! into firings of regex rules.
//!
//! The service polls about once a second and owns the timer, so nothing here
//! sleeps or spawns threads: [`Follower::poll`] returns the lines written since
//! the previous call, and [`RuleWindows::feed`] decides which rules fire, with
//! time supplied by the caller so tests control it.
//!
//! Known limit of `copytruncate` rotation: lines written between the last poll
//! and the truncation end up only in the copy, and a truncated file that has
//! already grown past the old offset before the next poll looks like a
//! file that merely grew. Rename-based rotation has neither problem.

use std::collections::VecDeque;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

/// Most bytes read by one [`Follower::poll`], so a huge burst cannot stall the
/// caller's loop; the rest comes on the next call.
const MAX_READ_PER_POLL: usize = 16 * 1024 * 1024;
/// Longest line kept whole; longer ones are cut so a file without newlines
/// cannot make the follower buffer without bound.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// Size of each read from the file.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// `Firing::last_line` is evidence for a human, not an archive.
const MAX_EVIDENCE_LINE_BYTES: usize = 500;
/// Longest UTF-8 sequence minus one: how far a cut may back off to land on a
/// character boundary.
const MAX_UTF8_CONTINUATION_BYTES: usize = 3;

/// How urgent a rule's firing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warn,
    Critical,
}

/// "At least `at_least` lines matching `pattern` within `within`", reported
/// at most once per `cooldown` so a flood of errors gives one alert, not a flood.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub pattern: regex::Regex,
    pub severity: Severity,
    /// A value of 0 behaves as 1: a rule needs at least one match to fire.
    pub at_least: u32,
    pub within: Duration,
    pub cooldown: Duration,
}

/// A rule that fired, with the evidence for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub rule: String,
    pub severity: Severity,
    /// Matches within the window when the rule fired. Only `at_least`
    /// timestamps are kept per rule, so this is at most `at_least`.
    pub count: u32,
    pub within: Duration,
    /// The latest matching line, truncated to 500 bytes on a char boundary.
    pub last_line: String,
}

/// Reads new complete lines of a file since the last call, across rotation.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    current: Option<OpenFile>,
    /// Bytes after the last newline, waiting for the rest of their line.
    partial: Vec<u8>,
    /// True until the first successful open if the file existed when the
    /// follower was created: its existing lines are history, not news.
    skip_existing: bool,
}

/// The file being followed, by handle, so a rename cannot take it away.
#[derive(Debug)]
struct OpenFile {
    file: File,
    identity: Option<FileIdentity>,
    /// Bytes consumed from `file`, which is also its read position.
    offset: u64,
}

/// Device and inode: what tells "the same file" from "a new file at the same path".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
}

/// What the path points at now, compared with the open handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathState {
    Same,
    Truncated,
    Replaced,
    Missing,
}

/// The lines gathered by one poll and the read budget left.
struct Batch {
    lines: Vec<String>,
    budget: usize,
}

impl Follower {
    /// Starts at the END of the file if it exists (old lines are history, not
    /// news); if it does not exist yet, starts at its beginning once it appears.
    ///
    /// The file is opened right away, so lines appended between `new` and the
    /// first `poll` are returned. If it exists but cannot be opened yet, its
    /// end at the first successful open is the starting point.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let skip_existing = fs::metadata(&path).is_ok();
        let mut follower = Self {
            path,
            current: None,
            partial: Vec::new(),
            skip_existing,
        };
        // A failure here is retried by every poll, which reports it.
        let _ = follower.open_at_path();
        follower
    }

    /// New complete lines since the last call.
    ///
    /// A partial last line (no '\n' yet) is kept for the next call. Rotation
    /// is detected when the path names a different file (device/inode on
    /// unix) or a file shorter than what was already read (truncation,
    /// `copytruncate`): the rest of the old file is drained through the still
    /// open handle first, then the new file is read from its start. A missing
    /// file is not an error: the old handle is drained and closed (so a
    /// deleted log does not keep its disk space), and reading resumes from the
    /// start when a file appears. Lines are decoded lossily, a trailing '\r'
    /// is dropped, one call reads at most 16 MiB, and lines longer than
    /// 64 KiB are returned in 64 KiB pieces.
    ///
    /// An error met after some lines were gathered is not reported, so that
    /// those lines are not lost; it will recur and be reported on the next call.
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let mut batch = Batch {
            lines: Vec::new(),
            budget: MAX_READ_PER_POLL,
        };
        match self.poll_into(&mut batch) {
            Err(error) if batch.lines.is_empty() => Err(error),
            _ => Ok(batch.lines),
        }
    }

    fn poll_into(&mut self, batch: &mut Batch) -> io::Result<()> {
        if self.current.is_none() && !self.open_at_path()? {
            return Ok(());
        }
        match self.path_state()? {
            PathState::Same => {
                self.read_available(batch)?;
            }
            PathState::Truncated => {
                self.flush_partial(batch);
                self.rewind()?;
                self.read_available(batch)?;
            }
            PathState::Replaced => {
                if self.drain_and_close(batch)? && self.open_at_path()? {
                    self.read_available(batch)?;
                }
            }
            PathState::Missing => {
                self.drain_and_close(batch)?;
            }
        }
        Ok(())
    }

    /// Opens the file at the path; Ok(false) if there is none yet.
    fn open_at_path(&mut self) -> io::Result<bool> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error),
        };
        let metadata = file.metadata()?;
        let offset = if self.skip_existing {
            metadata.len()
        } else {
            0
        };
        file.seek(SeekFrom::Start(offset))?;
        self.skip_existing = false;
        self.current = Some(OpenFile {
            file,
            identity: identity(&metadata),
            offset,
        });
        Ok(true)
    }

    fn path_state(&self) -> io::Result<PathState> {
        let Some(open) = &self.current else {
            return Ok(PathState::Missing);
        };
        let metadata = match fs::metadata(&self.path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(PathState::Missing);
            }
            Err(error) => return Err(error),
        };
        Ok(if identity(&metadata) != open.identity {
            PathState::Replaced
        } else if metadata.len() < open.offset {
            PathState::Truncated
        } else {
            PathState::Same
        })
    }

    /// Reads the old handle to its end and closes it; Ok(false) if the read
    /// budget ran out first, in which case the next poll continues draining.
    fn drain_and_close(&mut self, batch: &mut Batch) -> io::Result<bool> {
        if !self.read_available(batch)? {
            return Ok(false);
        }
        // The old file will not grow its last line any further.
        self.flush_partial(batch);
        self.current = None;
        Ok(true)
    }

    fn rewind(&mut self) -> io::Result<()> {
        if let Some(open) = self.current.as_mut() {
            open.file.seek(SeekFrom::Start(0))?;
            open.offset = 0;
        }
        Ok(())
    }

    /// Reads until the end of the file (Ok(true)) or of the budget (Ok(false)).
    fn read_available(&mut self, batch: &mut Batch) -> io::Result<bool> {
        let Some(open) = self.current.as_mut() else {
            return Ok(true);
        };
        let mut chunk = vec![0_u8; READ_CHUNK_BYTES];
        while batch.budget > 0 {
            let wanted = chunk.len().min(batch.budget);
            let Some(buffer) = chunk.get_mut(..wanted) else {
                break;
            };
            let read = match open.file.read(buffer) {
                Ok(0) => return Ok(true),
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            let Some(bytes) = buffer.get(..read) else {
                break;
            };
            open.offset = open.offset.saturating_add(bytes.len() as u64);
            batch.budget = batch.budget.saturating_sub(bytes.len());
            self.partial.extend_from_slice(bytes);
            take_lines(&mut self.partial, &mut batch.lines);
        }
        Ok(false)
    }

    fn flush_partial(&mut self, batch: &mut Batch) {
        if !self.partial.is_empty() {
            batch.lines.push(decode_line(&self.partial));
            self.partial.clear();
        }
    }
}

#[cfg(unix)]
fn identity(metadata: &Metadata) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    Some(FileIdentity {
        device: metadata.dev(),
        inode: metadata.ino(),
    })
}

/// Without inodes only truncation can be detected.
#[cfg(not(unix))]
fn identity(_metadata: &Metadata) -> Option<FileIdentity> {
    None
}

/// Moves every complete line (and every over-long piece) out of `buffer`,
/// leaving only the start of a line still being written.
fn take_lines(buffer: &mut Vec<u8>, lines: &mut Vec<String>) {
    let mut start = 0;
    while let Some(rest) = buffer.get(start..) {
        let searched = rest.get(..=MAX_LINE_BYTES).unwrap_or(rest);
        if let Some(newline) = searched.iter().position(|&b| b == b'\n') {
            lines.push(decode_line(rest.get(..newline).unwrap_or_default()));
            start += newline + 1;
        } else if rest.len() > MAX_LINE_BYTES {
            let cut = utf8_cut_point(rest, MAX_LINE_BYTES);
            lines.push(decode_line(rest.get(..cut).unwrap_or_default()));
            start += cut;
        } else {
            break;
        }
    }
    buffer.drain(..start.min(buffer.len()));
}

/// A cut at or just before `max` that does not split a UTF-8 character
/// (unless the bytes are not UTF-8 anyway). Always > 0, so cutting progresses.
fn utf8_cut_point(bytes: &[u8], max: usize) -> usize {
    let lowest = max.saturating_sub(MAX_UTF8_CONTINUATION_BYTES).max(1);
    let mut cut = max;
    while cut > lowest && bytes.get(cut).is_some_and(|&b| is_utf8_continuation(b)) {
        cut -= 1;
    }
    cut
}

fn is_utf8_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
}

/// Lossy, so a stray invalid byte costs one replacement character, not the line.
fn decode_line(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// Counts matches per rule in a sliding window and fires once per cooldown.
#[derive(Debug)]
pub struct RuleWindows {
    rules: Vec<RuleState>,
    /// Latest time seen: time never runs backwards inside, so a clock step
    /// back cannot keep matches in the window or a rule muted indefinitely.
    now_ms: i64,
}

#[derive(Debug)]
struct RuleState {
    rule: Rule,
    /// Times of the most recent matches, oldest first, at most `at_least`.
    matches: VecDeque<i64>,
    last_fired_ms: Option<i64>,
    last_line: String,
}

impl RuleWindows {
    pub fn new(rules: Vec<Rule>) -> Self {
        let rules = rules
            .into_iter()
            .map(|rule| RuleState {
                rule,
                matches: VecDeque::new(),
                last_fired_ms: None,
                last_line: String::new(),
            })
            .collect();
        Self {
            rules,
            now_ms: i64::MIN,
        }
    }

    /// Feeds lines seen at `now_ms` (a monotonic-ish timestamp in millis
    /// supplied by the caller) and returns the rules that fire.
    ///
    /// A rule fires when its matches within the last `within` reach
    /// `at_least`, and not again until `cooldown` has passed since it fired;
    /// matches keep being counted meanwhile, and old ones age out. A rule
    /// fires at most once per call. A `now_ms` earlier than one already seen
    /// is treated as that later time.
    pub fn feed(&mut self, now_ms: i64, lines: &[String]) -> Vec<Firing> {
        self.now_ms = self.now_ms.max(now_ms);
        let now_ms = self.now_ms;
        self.rules
            .iter_mut()
            .filter_map(|state| state.feed(now_ms, lines))
            .collect()
    }
}

impl RuleState {
    fn feed(&mut self, now_ms: i64, lines: &[String]) -> Option<Firing> {
        self.record_matches(now_ms, lines);
        self.age_out(now_ms);
        self.fire_if_due(now_ms)
    }

    fn at_least(&self) -> usize {
        usize::try_from(self.rule.at_least.max(1)).unwrap_or(usize::MAX)
    }

    fn record_matches(&mut self, now_ms: i64, lines: &[String]) {
        let at_least = self.at_least();
        for line in lines.iter().filter(|l| self.rule.pattern.is_match(l)) {
            if self.matches.len() >= at_least {
                self.matches.pop_front();
            }
            self.matches.push_back(now_ms);
            self.last_line.clone_from(line);
        }
    }

    fn age_out(&mut self, now_ms: i64) {
        let oldest_kept = now_ms.saturating_sub(millis(self.rule.within));
        while self.matches.front().is_some_and(|&at| at < oldest_kept) {
            self.matches.pop_front();
        }
    }

    fn fire_if_due(&mut self, now_ms: i64) -> Option<Firing> {
        if self.matches.len() < self.at_least() || self.cooling_down(now_ms) {
            return None;
        }
        self.last_fired_ms = Some(now_ms);
        Some(Firing {
            rule: self.rule.name.clone(),
            severity: self.rule.severity,
            count: u32::try_from(self.matches.len()).unwrap_or(u32::MAX),
            within: self.rule.within,
            last_line: truncate_on_char_boundary(&self.last_line, MAX_EVIDENCE_LINE_BYTES),
        })
    }

    fn cooling_down(&self, now_ms: i64) -> bool {
        self.last_fired_ms
            .is_some_and(|fired| now_ms.saturating_sub(fired) < millis(self.rule.cooldown))
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn truncate_on_char_boundary(text: &str, max_bytes: usize) -> String {
    let mut end = max_bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::Path;
    use std::sync::atomic::{AtomicU32, Ordering};

    const SECOND_MS: i64 = 1000;

    /// A unique log path under the temp dir; removes it and its rotated
    /// sibling when dropped.
    struct TempLog {
        path: PathBuf,
        rotated: PathBuf,
    }

    impl TempLog {
        fn new(test: &str) -> Self {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("logwatch-{}-{test}-{unique}.log", std::process::id());
            let path = std::env::temp_dir().join(name);
            let rotated = path.with_extension("log.1");
            let log = Self { path, rotated };
            log.remove_all();
            log
        }

        fn remove_all(&self) {
            let _ = fs::remove_file(&self.path);
            let _ = fs::remove_file(&self.rotated);
        }
    }

    impl Drop for TempLog {
        fn drop(&mut self) {
            self.remove_all();
        }
    }

    fn append(path: &Path, bytes: &[u8]) {
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open test log for appending");
        file.write_all(bytes).expect("append to test log");
    }

    fn poll(follower: &mut Follower) -> Vec<String> {
        follower.poll().expect("poll test log")
    }

    fn lines(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    fn rule(at_least: u32, within_s: u64, cooldown_s: u64) -> Rule {
        Rule {
            name: "db-errors".to_string(),
            pattern: regex::Regex::new(r"ERROR .*database").expect("valid test regex"),
            severity: Severity::Critical,
            at_least,
            within: Duration::from_secs(within_s),
            cooldown: Duration::from_secs(cooldown_s),
        }
    }

    fn matching() -> Vec<String> {
        matching_lines(1)
    }

    fn matching_lines(count: usize) -> Vec<String> {
        vec!["ERROR lost connection to database".to_string(); count]
    }

    #[test]
    fn a_rule_fires_at_the_fifth_match_and_not_the_fourth() {
        let mut windows = RuleWindows::new(vec![rule(5, 60, 300)]);
        for second in 0..4 {
            assert!(windows.feed(second * SECOND_MS, &matching()).is_empty());
        }
        let firings = windows.feed(4 * SECOND_MS, &matching());
        assert_eq!(
            firings,
            vec![Firing {
                rule: "db-errors".to_string(),
                severity: Severity::Critical,
                count: 5,
                within: Duration::from_secs(60),
                last_line: "ERROR lost connection to database".to_string(),
            }]
        );
    }

    #[test]
    fn non_matching_lines_do_not_count() {
        let mut windows = RuleWindows::new(vec![rule(5, 60, 300)]);
        let noise = lines(&["INFO database ok", "ERROR disk full", "", "WARN x"]);
        assert!(windows.feed(0, &matching_lines(4)).is_empty());
        assert!(windows.feed(SECOND_MS, &noise).is_empty());
        assert_eq!(windows.feed(2 * SECOND_MS, &matching()).len(), 1);
    }

    #[test]
    fn matches_older_than_the_window_age_out() {
        let mut windows = RuleWindows::new(vec![rule(5, 60, 300)]);
        assert!(windows.feed(0, &matching_lines(4)).is_empty());
        assert!(windows.feed(61 * SECOND_MS, &matching()).is_empty());
    }

    #[test]
    fn a_rule_stays_quiet_during_its_cooldown_and_fires_again_after_it() {
        let mut windows = RuleWindows::new(vec![rule(2, 60, 300)]);
        assert_eq!(windows.feed(0, &matching_lines(2)).len(), 1);
        assert!(windows.feed(10 * SECOND_MS, &matching_lines(3)).is_empty());
        assert!(windows.feed(299 * SECOND_MS, &matching_lines(3)).is_empty());
        assert_eq!(windows.feed(300 * SECOND_MS, &matching()).len(), 1);
    }

    #[test]
    fn after_the_cooldown_a_rule_still_needs_fresh_matches() {
        let mut windows = RuleWindows::new(vec![rule(2, 60, 300)]);
        assert_eq!(windows.feed(0, &matching_lines(2)).len(), 1);
        assert!(windows.feed(400 * SECOND_MS, &matching()).is_empty());
    }

    #[test]
    fn a_clock_step_backwards_does_not_mute_a_rule_forever() {
        let mut windows = RuleWindows::new(vec![rule(1, 60, 10)]);
        assert_eq!(windows.feed(1_000 * SECOND_MS, &matching()).len(), 1);
        assert!(windows.feed(0, &matching()).is_empty());
        assert_eq!(windows.feed(1_011 * SECOND_MS, &matching()).len(), 1);
    }

    #[test]
    fn an_at_least_of_zero_still_needs_one_match() {
        let mut windows = RuleWindows::new(vec![rule(0, 60, 0)]);
        assert!(windows.feed(0, &lines(&["INFO fine"])).is_empty());
        assert_eq!(windows.feed(SECOND_MS, &matching()).len(), 1);
    }

    #[test]
    fn the_evidence_line_is_cut_to_500_bytes_on_a_char_boundary() {
        let mut windows = RuleWindows::new(vec![rule(1, 60, 0)]);
        let long = format!("ERROR database {}", "é".repeat(400));
        let firings = windows.feed(0, &[long]);
        let last_line = firings.first().map(|f| f.last_line.clone());
        assert!(last_line.is_some_and(|l| l.len() <= 500 && l.len() >= 498));
    }

    #[test]
    fn the_follower_starts_at_the_end_and_returns_appended_lines() {
        let log = TempLog::new("start-at-end");
        append(&log.path, b"old 1\nold 2\n");
        let mut follower = Follower::new(&log.path);
        assert!(poll(&mut follower).is_empty());
        append(&log.path, b"new 1\nnew 2\n");
        assert_eq!(poll(&mut follower), lines(&["new 1", "new 2"]));
        assert!(poll(&mut follower).is_empty());
    }

    #[test]
    fn a_partial_line_waits_for_its_newline() {
        let log = TempLog::new("partial");
        append(&log.path, b"");
        let mut follower = Follower::new(&log.path);
        append(&log.path, b"first\nhalf of a ");
        assert_eq!(poll(&mut follower), lines(&["first"]));
        append(&log.path, b"line\r\n");
        assert_eq!(poll(&mut follower), lines(&["half of a line"]));
    }

    #[test]
    fn rotation_by_rename_returns_the_old_tail_then_the_new_file_once() {
        let log = TempLog::new("rename");
        append(&log.path, b"history\n");
        let mut follower = Follower::new(&log.path);
        append(&log.path, b"a\nb\n");
        assert_eq!(poll(&mut follower), lines(&["a", "b"]));
        append(&log.path, b"c\nd\n");
        fs::rename(&log.path, &log.rotated).expect("rotate test log");
        append(&log.path, b"e\nf\n");
        assert_eq!(poll(&mut follower), lines(&["c", "d", "e", "f"]));
        assert!(poll(&mut follower).is_empty());
        append(&log.path, b"g\n");
        assert_eq!(poll(&mut follower), lines(&["g"]));
    }

    #[test]
    fn a_rotated_file_missing_its_successor_is_drained_then_the_successor_is_read() {
        let log = TempLog::new("rename-gap");
        append(&log.path, b"history\n");
        let mut follower = Follower::new(&log.path);
        append(&log.path, b"last words");
        fs::rename(&log.path, &log.rotated).expect("rotate test log");
        assert_eq!(poll(&mut follower), lines(&["last words"]));
        assert!(poll(&mut follower).is_empty());
        append(&log.path, b"reborn\n");
        assert_eq!(poll(&mut follower), lines(&["reborn"]));
    }

    #[test]
    fn copytruncate_returns_the_lines_written_after_truncation() {
        let log = TempLog::new("copytruncate");
        append(&log.path, b"a long line of history\nand another one\n");
        let mut follower = Follower::new(&log.path);
        append(&log.path, b"before\n");
        assert_eq!(poll(&mut follower), lines(&["before"]));
        File::create(&log.path).expect("truncate test log");
        append(&log.path, b"after 1\nafter 2\n");
        assert_eq!(poll(&mut follower), lines(&["after 1", "after 2"]));
        assert!(poll(&mut follower).is_empty());
    }

    #[test]
    fn a_file_that_appears_later_is_read_from_its_start() {
        let log = TempLog::new("appears");
        let mut follower = Follower::new(&log.path);
        assert!(poll(&mut follower).is_empty());
        append(&log.path, b"one\ntwo\n");
        assert_eq!(poll(&mut follower), lines(&["one", "two"]));
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let log = TempLog::new("utf8");
        append(&log.path, b"");
        let mut follower = Follower::new(&log.path);
        append(&log.path, b"bad \xff\xfe bytes\n");
        assert_eq!(poll(&mut follower), lines(&["bad \u{FFFD}\u{FFFD} bytes"]));
    }

    #[test]
    fn a_line_longer_than_64_kib_is_cut_into_pieces() {
        let log = TempLog::new("long-line");
        append(&log.path, b"");
        let mut follower = Follower::new(&log.path);
        append(&log.path, &vec![b'x'; 2 * MAX_LINE_BYTES + 10]);
        let pieces = poll(&mut follower);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| p.len() == MAX_LINE_BYTES));
        append(&log.path, b"\n");
        assert_eq!(poll(&mut follower), vec!["x".repeat(10)]);
    }

    #[test]
    fn a_cut_never_splits_a_utf8_character() {
        let mut buffer = format!("x{}", "é".repeat(MAX_LINE_BYTES)).into_bytes();
        let mut pieces = Vec::new();
        take_lines(&mut buffer, &mut pieces);
        assert!(!pieces.is_empty());
        assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')));
    }

    #[test]
    fn a_burst_larger_than_16_mib_is_spread_over_several_polls() {
        let log = TempLog::new("burst");
        append(&log.path, b"");
        let mut follower = Follower::new(&log.path);
        let line = format!("{}\n", "y".repeat(1023));
        let total_lines = 17 * 1024;
        append(&log.path, line.repeat(total_lines).as_bytes());
        let first = poll(&mut follower).len();
        let second = poll(&mut follower).len();
        assert_eq!(first, 16 * 1024);
        assert_eq!(first + second, total_lines);
    }
}
