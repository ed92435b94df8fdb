//! Process facts from /proc: CPU time, resident memory, the machine.

use std::fs;

/// CPU time (user + system) of process `pid` (`None`: this process), in
/// nanoseconds, from the process's CPU-time clock: to the nanosecond and
/// counting its exited threads (the /proc `stat` fields are 10 ms ticks,
/// too coarse for a short window: a server's 2,000 messages in 1 s read 0
/// ticks or 1). Falls back to /proc when the clock cannot be read.
pub fn cpu_ns(pid: Option<u32>) -> Option<u64> {
    use nix::time::ClockId;
    // Linux's largest pid (PID_MAX_LIMIT); a larger one would wrap in the
    // clock id's encoding onto another process.
    const PID_MAX: u32 = 1 << 22;
    let clock = match pid {
        None => Ok(ClockId::CLOCK_PROCESS_CPUTIME_ID),
        Some(p) if p > PID_MAX => return None,
        Some(p) => ClockId::pid_cpu_clock_id(nix::unistd::Pid::from_raw(p as i32)),
    };
    match clock.and_then(ClockId::now) {
        Ok(t) => u64::try_from(t.tv_sec())
            .ok()
            .map(|s| s * 1_000_000_000 + t.tv_nsec() as u64),
        Err(_) => stat_cpu_ns(pid?),
    }
}

/// CPU time of process `pid` from /proc/PID/stat (clock ticks), ns.
fn stat_cpu_ns(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13
    // after the state field that follows ')'.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * (1_000_000_000 / rustix::param::clock_ticks_per_second()))
}

/// CPU time of process `pid` and its child processes (a server and its
/// workers), nanoseconds.
pub fn tree_cpu_ns(pid: u32) -> u64 {
    let mut total = cpu_ns(Some(pid)).unwrap_or(0);
    for c in children(pid) {
        total += cpu_ns(Some(c)).unwrap_or(0);
    }
    total
}

/// Whether process `pid` may run on a core this process may run on (their
/// `Cpus_allowed` masks overlap); true when either mask cannot be read.
pub fn shares_cores(pid: u32) -> bool {
    let mask = |path: String| {
        let status = fs::read_to_string(path).ok()?;
        Some(
            status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed:"))?
                .trim()
                .to_owned(),
        )
    };
    match (
        mask("/proc/self/status".into()),
        mask(format!("/proc/{pid}/status")),
    ) {
        (Some(a), Some(b)) => masks_overlap(&a, &b).unwrap_or(true),
        _ => true,
    }
}

/// Whether two `Cpus_allowed` masks (comma-separated 32-bit hex groups,
/// most significant first) have a core in common; `None` if unreadable.
fn masks_overlap(a: &str, b: &str) -> Option<bool> {
    let groups = |m: &str| -> Option<Vec<u32>> {
        m.split(',')
            .map(|g| u32::from_str_radix(g, 16).ok())
            .collect()
    };
    let (a, b) = (groups(a)?, groups(b)?);
    Some(a.iter().rev().zip(b.iter().rev()).any(|(x, y)| x & y != 0))
}

/// The CPUs process `pid` (`None`: this process) may run on, from its
/// `Cpus_allowed_list`.
pub fn allowed_cpus(pid: Option<u32>) -> Option<Vec<usize>> {
    let who = pid.map_or_else(|| "self".to_owned(), |p| p.to_string());
    let status = fs::read_to_string(format!("/proc/{who}/status")).ok()?;
    cpu_list(
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?,
    )
}

/// A CPU list as the kernel writes it: `0-3,8,10-11`.
fn cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        cpus.extend(a.parse::<usize>().ok()?..=b.parse::<usize>().ok()?);
    }
    Some(cpus)
}

/// Steal time of `cpus`, summed, ns: how long their virtual CPUs wanted to
/// run while the hypervisor ran something else (`/proc/stat`; 0 on bare
/// metal). `None` when it cannot be read.
pub fn steal_ns(cpus: &[usize]) -> Option<u64> {
    let ticks = proc_stat_steal(&fs::read_to_string("/proc/stat").ok()?, cpus)?;
    Some(ticks * (1_000_000_000 / rustix::param::clock_ticks_per_second()))
}

/// The steal ticks of `cpus` in `/proc/stat`'s text (the 8th value of a
/// `cpuN` line); `None` if a CPU's line is missing or too short.
fn proc_stat_steal(stat: &str, cpus: &[usize]) -> Option<u64> {
    let mut total = 0;
    for &cpu in cpus {
        let name = format!("cpu{cpu}");
        let line = stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
        total += line.split_whitespace().nth(8)?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Child processes of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Resident memory of this process, bytes.
pub fn rss_bytes() -> Option<u64> {
    let statm = fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

/// The CPU model name.
pub fn cpu_model() -> Option<String> {
    fs::read_to_string("/proc/cpuinfo")
        .ok()?
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

/// The kernel release.
pub fn kernel() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let before = cpu_ns(None).unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_ns(None).unwrap() >= before);
        assert!(rss_bytes().unwrap() > 1 << 20);
        assert!(kernel().is_some());
    }

    #[test]
    fn reads_cpu_lists_and_the_steal_of_chosen_cpus() {
        assert_eq!(cpu_list("0-3,8,10-11\n"), Some(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(cpu_list("1"), Some(vec![1]));
        assert_eq!(cpu_list("x"), None);
        // user nice system idle iowait irq softirq steal guest guest_nice
        let stat = "cpu  100 0 50 900 0 0 0 70 0 0\n\
                    cpu0 50 0 25 450 0 0 0 30 0 0\n\
                    cpu1 50 0 25 450 0 0 0 40 0 0\n\
                    cpu10 1 0 1 1 0 0 0 500 0 0\n\
                    intr 12345\n";
        assert_eq!(proc_stat_steal(stat, &[0]), Some(30));
        assert_eq!(proc_stat_steal(stat, &[1]), Some(40));
        assert_eq!(proc_stat_steal(stat, &[0, 1]), Some(70));
        assert_eq!(proc_stat_steal(stat, &[10]), Some(500), "cpu10, not cpu1");
        assert_eq!(proc_stat_steal(stat, &[2]), None, "no such CPU");
        let mine = allowed_cpus(None).unwrap();
        assert!(!mine.is_empty());
        assert!(steal_ns(&mine).is_some());
    }

    #[test]
    fn reads_a_process_by_pid_to_the_nanosecond() {
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        // The same process read by pid lies between two readings of its own
        // clock; 10 ms ticks from /proc would read below the first.
        let before = cpu_ns(None).unwrap();
        let by_pid = cpu_ns(Some(std::process::id())).unwrap();
        let after = cpu_ns(None).unwrap();
        assert!(
            before <= by_pid && by_pid <= after,
            "{before} {by_pid} {after}"
        );
        let ticks = stat_cpu_ns(std::process::id()).unwrap();
        assert!(ticks <= after, "{ticks} {after}");
        assert_eq!(cpu_ns(Some(u32::MAX >> 2)), None, "no such process");
        assert_eq!(cpu_ns(Some(1 << 22)), None, "no such process");
    }
}
