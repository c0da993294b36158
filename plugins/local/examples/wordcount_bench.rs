//! Word count on ~1 GiB of generated text, several ways, on the same
//! machine in one run (interleaved when repeated), with wall time, CPU
//! time and peak RSS of each:
//!
//! - (a) `edp-mapreduce` (the local engine's MapReduce.Streaming runner),
//!   2 slots, with the awk mapper and reducer below;
//! - (a+c) the same with the reducer as combiner too
//!   (`edp.streaming.combiner`), as Hadoop's word count does;
//! - (b) `cat input | mapper | LC_ALL=C sort -S 2G | reducer` (the anchor of
//!   /work/shared/reference/wordcount-anchors.md);
//! - (c) PySpark `local[2]` word counts (RDD and DataFrame), when
//!   `target/venv-spark/bin/python` has pyspark (`scripts/setup-spark`).
//!
//! ```text
//! cargo build --release -p edp-engine-local --bin edp-mapreduce --example wordcount_bench
//! target/release/examples/wordcount_bench [--dir DIR] [--mib 1024 | --small] [--reps 1] [--reduces 2]
//!     [--no-pipeline] [--no-spark] [--no-combiner] [--runner PATH] [--baseline PATH]
//! ```
//!
//! The input (8 files, Zipf-distributed words `w1`…`w200000`, 8–16 words
//! per line, fixed seed) is generated once per size into DIR/in-<MiB>
//! (default DIR /tmp/edp-wc-bench) and reused; `--small` is 256 MiB, for
//! iterating. `--runner` runs another `edp-mapreduce` build than the one
//! beside this program; `--baseline` adds (a) and (a+c) with a second
//! build (say, main's), so a change is measured before and after in the
//! same run. CPU is user+sys of the process tree from wait4's rusage (the
//! command and what it waited for), cross-checked by sampling /proc every
//! 200 ms (PySpark's daemon-forked workers are only seen by sampling); peak
//! RSS is both the largest single process (rusage) and the sampled sum over
//! the tree. "Other CPU" is the machine's busy CPU time during a run minus
//! the run's own: what other work took from the two cores. The outputs are
//! checked to hold the same counts.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const MAPPER: &str = r#"{for(i=1;i<=NF;i++) print $i "\t1"}"#;
const REDUCER: &str = r#"$1!=k{if(k!="")print k"\t"c;k=$1;c=0}{c+=$2}END{if(k!="")print k"\t"c}"#;
const VOCAB: usize = 200_000;
const FILES: usize = 8;

struct Args {
    dir: PathBuf,
    mib: u64,
    reps: usize,
    reduces: u32,
    pipeline: bool,
    spark: bool,
    combiner: bool,
    runner: Option<PathBuf>,
    baseline: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        dir: PathBuf::from("/tmp/edp-wc-bench"),
        mib: 1024,
        reps: 1,
        reduces: 2,
        pipeline: true,
        spark: true,
        combiner: true,
        runner: None,
        baseline: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => a.dir = PathBuf::from(value()),
            "--mib" => a.mib = value().parse().expect("--mib N"),
            "--small" => a.mib = 256,
            "--reps" => a.reps = value().parse().expect("--reps N"),
            "--reduces" => a.reduces = value().parse().expect("--reduces N"),
            "--no-pipeline" => a.pipeline = false,
            "--no-spark" => a.spark = false,
            "--no-combiner" => a.combiner = false,
            "--runner" => a.runner = Some(PathBuf::from(value())),
            "--baseline" => a.baseline = Some(PathBuf::from(value())),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// DIR/in-MIB: FILES files of mib/FILES MiB, each cut at the first line end past it.
fn generate(dir: &Path, mib: u64) -> PathBuf {
    let input = dir.join(format!("in-{mib}"));
    let marker = dir.join(format!("in-{mib}.done"));
    if marker.exists() {
        return input;
    }
    let _ = fs::remove_dir_all(&input);
    fs::create_dir_all(&input).expect("input dir");
    eprintln!("generating {mib} MiB of text into {} ...", input.display());
    let started = Instant::now();
    let cum: Vec<f64> = (1..=VOCAB)
        .scan(0.0, |acc, r| {
            *acc += 1.0 / r as f64;
            Some(*acc)
        })
        .collect();
    let total = *cum.last().expect("a vocabulary");
    let words: Vec<String> = (1..=VOCAB).map(|r| format!("w{r}")).collect();
    let mut rng = Rng(20261123);
    let per_file = (mib << 20) / FILES as u64;
    for f in 0..FILES {
        let mut out =
            BufWriter::with_capacity(1 << 20, fs::File::create(input.join(format!("part-{f:05}"))).expect("file"));
        let mut written = 0u64;
        let mut line = Vec::with_capacity(256);
        while written < per_file {
            line.clear();
            let n = 8 + (rng.next() % 9) as usize;
            for i in 0..n {
                let u = rng.unit() * total;
                let r = cum.partition_point(|&c| c < u).min(VOCAB - 1);
                if i > 0 {
                    line.push(b' ');
                }
                line.extend_from_slice(words[r].as_bytes());
            }
            line.push(b'\n');
            out.write_all(&line).expect("write");
            written += line.len() as u64;
        }
        out.flush().expect("flush");
    }
    fs::write(&marker, b"").expect("marker");
    eprintln!("generated in {:.1} s", started.elapsed().as_secs_f64());
    input
}

#[derive(Clone, Debug)]
struct Measure {
    wall: f64,
    cpu: f64,
    cpu_sampled: f64,
    max_rss_mib: f64,
    tree_rss_mib: f64,
    /// The 1-minute load average when the run started.
    load1: f64,
    /// The machine's busy CPU seconds during the run, minus the run's own.
    other_cpu: f64,
}

/// The 1-minute load average.
fn load1() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The machine's busy CPU seconds since boot (user, nice, system, irq,
/// softirq, steal), from /proc/stat.
fn busy_cpu_s() -> f64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) as f64 / 100.0
}

/// Waits for `pid`; its exit status and rusage: CPU time (user+sys) and
/// peak RSS of it and the descendants it waited for. wait4 rather than
/// getrusage(RUSAGE_CHILDREN), whose peak is over every child this program
/// ever had, so one variant's figure would leak into the next.
fn wait_with_rusage(pid: u32) -> (bool, f64, i64) {
    // SAFETY: wait4 fills the status and the struct.
    unsafe {
        let mut status = 0;
        let mut u: libc::rusage = std::mem::zeroed();
        let waited = libc::wait4(pid as libc::pid_t, &mut status, 0, &mut u);
        assert_eq!(waited, pid as libc::pid_t, "wait4: {}", std::io::Error::last_os_error());
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        (ok, t(u.ru_utime) + t(u.ru_stime), u.ru_maxrss)
    }
}

/// (pid → (ppid, rss KiB, cpu ticks)) of every process.
fn processes() -> HashMap<u32, (u32, u64, u64)> {
    let page_kb = 4;
    let mut out = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if f.len() < 22 {
            continue;
        }
        let ppid = f[1].parse().unwrap_or(0);
        let ticks = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        let rss = f[21].parse::<u64>().unwrap_or(0) * page_kb;
        out.insert(pid, (ppid, rss, ticks));
    }
    out
}

/// Runs `argv`, sampling its process tree until it ends.
fn measure(argv: &[String], env: &[(&str, String)]) -> Measure {
    let load1 = load1();
    let busy = busy_cpu_s();
    let started = Instant::now();
    // Reaped by `wait_with_rusage` (wait4), for the rusage std's wait drops.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", argv[0]));
    let root = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let hz = 100.0;
            let mut peak_tree = 0u64;
            let mut ticks: HashMap<u32, u64> = HashMap::new();
            while !done.load(Ordering::Relaxed) {
                let procs = processes();
                let mut stack = vec![root];
                let mut sum = 0;
                while let Some(p) = stack.pop() {
                    if let Some((_, rss, t)) = procs.get(&p) {
                        sum += rss;
                        let seen = ticks.entry(p).or_default();
                        *seen = (*seen).max(*t);
                    }
                    stack.extend(procs.iter().filter(|(_, v)| v.0 == p).map(|(k, _)| *k));
                }
                peak_tree = peak_tree.max(sum);
                std::thread::sleep(Duration::from_millis(200));
            }
            (peak_tree, ticks.values().sum::<u64>() as f64 / hz)
        })
    };
    let (ok, cpu, maxrss) = wait_with_rusage(root);
    let wall = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let busy = busy_cpu_s() - busy;
    let (peak_tree, cpu_sampled) = sampler.join().expect("sampler");
    assert!(ok, "{} failed", argv.join(" "));
    Measure {
        wall,
        cpu,
        cpu_sampled,
        max_rss_mib: maxrss as f64 / 1024.0,
        tree_rss_mib: peak_tree as f64 / 1024.0,
        load1,
        other_cpu: (busy - cpu.max(cpu_sampled)).max(0.0),
    }
}

/// word → count from part files (`word\tcount` lines, any order).
fn counts(dir: &Path) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .expect("output dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("part-")))
        .collect();
    paths.sort();
    for p in paths {
        for line in std::io::BufReader::new(fs::File::open(&p).expect("part")).lines() {
            let line = line.expect("line");
            let (w, c) = line.split_once('\t').unwrap_or_else(|| panic!("bad line {line:?} in {}", p.display()));
            *m.entry(w.to_owned()).or_insert(0) += c.trim().parse::<u64>().expect("a count");
        }
    }
    m
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A runner job of the bench: its spec file, job directory and output.
struct RunnerJob {
    spec: PathBuf,
    job_dir: PathBuf,
    output: PathBuf,
}

/// Writes the spec of a word count through `edp-mapreduce`, with or without the combiner.
fn runner_job(dir: &Path, name: &str, input: &Path, reduces: u32, combiner: bool) -> RunnerJob {
    let job = RunnerJob {
        spec: dir.join(format!("spec-{name}.json")),
        job_dir: dir.join(format!("job-{name}")),
        output: dir.join(format!("out-{name}")),
    };
    let mut spec = serde_json::json!({
        "execution_id": "wordcount-bench",
        "job_dir": job.job_dir,
        "input": input,
        "output": job.output,
        "mapper": ["awk", MAPPER],
        "reducer": ["awk", "-F\t", REDUCER],
        "reduces": reduces,
        "slots": 2,
        "sort_mb": 100,
        "sort_factor": 64,
        "map_attempts": 4,
        "reduce_attempts": 4,
        "split_min": 1,
        "split_max": 32u64 << 20,
    });
    if combiner {
        spec["combiner"] = serde_json::json!(["awk", "-F\t", REDUCER]);
    }
    fs::write(&job.spec, serde_json::to_vec_pretty(&spec).expect("json")).expect("spec");
    job
}

/// What the runner counted, from its status file (`mapreduce.json`).
fn runner_counters(job_dir: &Path) -> String {
    let Ok(bytes) = fs::read(job_dir.join("mapreduce.json")) else { return String::new() };
    let Ok(status) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return String::new() };
    let n = |k: &str| status[k].as_u64().map_or("-".to_owned(), |v| v.to_string());
    format!(
        "map output {} records; combiner in/out {}/{} records; reduce input {} records; runs {} bytes",
        n("map_output_records"),
        n("combine_input_records"),
        n("combine_output_records"),
        n("reduce_input_records"),
        n("spilled_bytes"),
    )
}

struct Variant {
    name: String,
    shown: String,
    argv: Vec<String>,
    env: Vec<(&'static str, String)>,
    output: PathBuf,
    /// A runner's job directory, cleared before each run, its counters read after.
    job_dir: Option<PathBuf>,
}

fn main() {
    let a = args();
    fs::create_dir_all(&a.dir).expect("bench dir");
    let input = generate(&a.dir, a.mib);
    let in_bytes: u64 =
        fs::read_dir(&input).expect("input").flatten().map(|e| e.metadata().map_or(0, |m| m.len())).sum();
    let exe = std::env::current_exe().expect("exe");
    let runner = a
        .runner
        .clone()
        .unwrap_or_else(|| exe.parent().and_then(Path::parent).map(|p| p.join("edp-mapreduce")).expect("profile dir"));
    for r in std::iter::once(&runner).chain(a.baseline.as_ref()) {
        assert!(
            r.is_file(),
            "{} is missing: cargo build --release -p edp-engine-local --bin edp-mapreduce",
            r.display()
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let spark_python = root.join("target/venv-spark/bin/python");
    let spark_home = if a.spark {
        Command::new(&spark_python)
            .args(["-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    } else {
        None
    };
    if a.spark && spark_home.is_none() {
        println!("NOTE: no Spark venv ({} with pyspark): (c) skipped; run scripts/setup-spark", spark_python.display());
    }

    // (a), (a+c), and the same with the baseline runner.
    let shown_a = |combiner: bool| {
        format!(
            "edp-mapreduce spec.json (mapper `awk '{MAPPER}'`, reducer `awk -F'\\t' '{REDUCER}'`,{} reduces={}, slots=2, io.sort.mb=100)",
            if combiner { " combiner = the reducer," } else { "" },
            a.reduces
        )
    };
    let mut variants: Vec<Variant> = Vec::new();
    let runners: Vec<(&str, &Path)> =
        std::iter::once(("", runner.as_path())).chain(a.baseline.as_deref().map(|b| (" [baseline]", b))).collect();
    for (suffix, path) in &runners {
        for combiner in [false, true] {
            if combiner && !a.combiner {
                continue;
            }
            let name = format!("a{}{}", if combiner { "c" } else { "" }, if suffix.is_empty() { "" } else { "-base" });
            let job = runner_job(&a.dir, &name, &input, a.reduces, combiner);
            variants.push(Variant {
                name: format!(
                    "({}) edp-mapreduce{}{suffix}",
                    if combiner { "a+c" } else { "a" },
                    if combiner { ", combiner" } else { "" }
                ),
                shown: shown_a(combiner),
                argv: vec![path.display().to_string(), job.spec.display().to_string()],
                env: vec![],
                output: job.output,
                job_dir: Some(job.job_dir),
            });
        }
    }

    // (b)
    let out_b = a.dir.join("out-b");
    let pipeline = format!(
        "cat {}/* | awk '{MAPPER}' | LC_ALL=C sort -S 2G | awk -F'\\t' '{REDUCER}' > {}/part-00000",
        input.display(),
        out_b.display()
    );
    let base_index = variants.len();
    if a.pipeline {
        variants.push(Variant {
            name: "(b) sort pipeline".into(),
            shown: pipeline.clone(),
            argv: vec!["bash".to_owned(), "-c".to_owned(), pipeline],
            env: vec![],
            output: out_b,
            job_dir: None,
        });
    }

    // (c)
    if let Some(home) = &spark_home {
        let rdd = a.dir.join("wc_rdd.py");
        fs::write(
            &rdd,
            "import sys\nfrom pyspark import SparkContext\nsc = SparkContext(appName='wc-rdd')\n\
             (sc.textFile(sys.argv[1]).flatMap(lambda l: l.split()).map(lambda w: (w, 1))\n\
              .reduceByKey(lambda x, y: x + y).map(lambda kv: '%s\\t%d' % kv).saveAsTextFile(sys.argv[2]))\n",
        )
        .expect("rdd script");
        let df = a.dir.join("wc_df.py");
        fs::write(
            &df,
            "import sys\nfrom pyspark.sql import SparkSession, functions as F\n\
             spark = SparkSession.builder.appName('wc-df').getOrCreate()\n\
             (spark.read.text(sys.argv[1]).select(F.explode(F.split('value', ' ')).alias('w')).where(\"w != ''\")\n\
              .groupBy('w').count().write.option('sep', '\\t').csv(sys.argv[2]))\n",
        )
        .expect("df script");
        let spark_env: Vec<(&str, String)> = vec![
            ("SPARK_HOME", home.clone()),
            ("SPARK_LOCAL_IP", "127.0.0.1".into()),
            ("PYSPARK_PYTHON", spark_python.display().to_string()),
        ];
        for (name, script, out) in [
            ("(c) PySpark RDD, local[2]", &rdd, a.dir.join("out-c-rdd")),
            ("(c) PySpark DataFrame, local[2]", &df, a.dir.join("out-c-df")),
        ] {
            let file = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            variants.push(Variant {
                name: name.into(),
                shown: format!(
                    "SPARK_LOCAL_IP=127.0.0.1 spark-submit --master local[2] --driver-memory 4g {} in {}",
                    file(script),
                    file(&out)
                ),
                argv: vec![
                    format!("{home}/bin/spark-submit"),
                    "--master".into(),
                    "local[2]".into(),
                    "--driver-memory".into(),
                    "4g".into(),
                    script.display().to_string(),
                    input.display().to_string(),
                    out.display().to_string(),
                ],
                env: spark_env.clone(),
                output: out,
                job_dir: None,
            });
        }
    }

    let mut results: Vec<Vec<Measure>> = vec![Vec::new(); variants.len()];
    let mut counters: Vec<String> = vec![String::new(); variants.len()];
    let mut reference: Option<HashMap<String, u64>> = None;
    for rep in 1..=a.reps {
        for (i, v) in variants.iter().enumerate() {
            let _ = fs::remove_dir_all(&v.output);
            if let Some(job_dir) = &v.job_dir {
                let _ = fs::remove_dir_all(job_dir);
                fs::create_dir_all(job_dir).expect("job dir");
            } else if v.name.starts_with("(b)") {
                fs::create_dir_all(&v.output).expect("out dir");
            }
            eprintln!("rep {rep}: {} ...", v.name);
            let m = measure(&v.argv, &v.env);
            eprintln!(
                "rep {rep}: {}: wall {:.1} s, cpu {:.1} s (sampled {:.1} s), max RSS {:.0} MiB, tree {:.0} MiB, \
                 load {:.2} at start, other CPU {:.1} s",
                v.name, m.wall, m.cpu, m.cpu_sampled, m.max_rss_mib, m.tree_rss_mib, m.load1, m.other_cpu
            );
            if let Some(job_dir) = &v.job_dir {
                counters[i] = runner_counters(job_dir);
                eprintln!("rep {rep}: {}: {}", v.name, counters[i]);
            }
            let got = counts(&v.output);
            match &reference {
                None => reference = Some(got),
                Some(r) => assert!(*r == got, "{}: the counts differ from {}'s", v.name, variants[0].name),
            }
            results[i].push(m);
        }
    }
    let reference = reference.expect("a run");
    let words: u64 = reference.values().sum();
    println!();
    println!(
        "Word count, {:.0} MiB input ({} words, {} distinct), {} rep(s), medians [each rep]; machine: {} cores",
        in_bytes as f64 / 1048576.0,
        words,
        reference.len(),
        a.reps,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "| variant | wall s | CPU s (user+sys) | peak RSS MiB (largest process / tree) | MiB/s | speed vs (b) | \
         load at start | other CPU s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let base = if a.pipeline { Some(median(results[base_index].iter().map(|m| m.wall).collect())) } else { None };
    for (v, ms) in variants.iter().zip(&results) {
        let wall = median(ms.iter().map(|m| m.wall).collect());
        let cpu = median(ms.iter().map(|m| m.cpu.max(m.cpu_sampled)).collect());
        let rss = ms.iter().map(|m| m.max_rss_mib).fold(0.0, f64::max);
        let tree = ms.iter().map(|m| m.tree_rss_mib).fold(0.0, f64::max);
        let walls: Vec<String> = ms.iter().map(|m| format!("{:.1}", m.wall)).collect();
        let loads: Vec<String> = ms.iter().map(|m| format!("{:.1}", m.load1)).collect();
        let other: Vec<String> = ms.iter().map(|m| format!("{:.0}", m.other_cpu)).collect();
        println!(
            "| {} | {wall:.1} [{}] | {cpu:.1} | {rss:.0} / {tree:.0} | {:.1} | {} | {} | {} |",
            v.name,
            walls.join(", "),
            in_bytes as f64 / 1048576.0 / wall,
            base.map_or("—".into(), |b| format!("{:.2}×", b / wall)),
            loads.join(", "),
            other.join(", "),
        );
    }
    println!();
    for ((v, c), _) in variants.iter().zip(&counters).zip(&results) {
        println!(
            "- {}: `{}`{}",
            v.name,
            v.shown.replace('|', "\\|"),
            if c.is_empty() { String::new() } else { format!("; {c}") }
        );
    }
}
