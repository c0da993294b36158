//! README.md's walk-through, run as it stands in README.md (so it cannot
//! drift): twice on the same edpd, and after the `edp` section's commands,
//! each run printing exactly what the README's comments say it prints.

use edp_tests::TestApp;

use crate::support::Edp;

const README: &str = include_str!("../../../README.md");

/// The first ```sh block after `heading`.
fn block(heading: &str) -> &'static str {
    let at = README.find(heading).unwrap_or_else(|| panic!("README.md has no `{heading}`"));
    let start = README[at..].find("```sh\n").map(|i| at + i + "```sh\n".len()).expect("a sh block");
    let end = README[start..].find("```\n").map(|i| start + i).expect("the block's end");
    &README[start..end]
}

/// What the block claims to print: the comment after each command, one
/// line each (a command without one prints nothing).
fn claims(block: &str) -> String {
    block
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once(" # ").map(|(_, claim)| format!("{}\n", claim.trim())))
        .collect()
}

#[tokio::test]
async fn the_readme_walk_through_runs_twice_and_after_the_edp_section() {
    for tool in ["curl", "jq"] {
        let found = std::process::Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
        assert!(found.is_ok_and(|o| o.status.success()), "`{tool}` is needed (scripts/test installs it)");
    }
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let walk_through = block("## A walk-through with curl");
    let expected = claims(walk_through);
    assert_eq!(expected, "SUCCEEDED, 0\nhello, world\nTOBEKILLED\nKILLED\n", "the README's claims changed");

    let first = edp.bash(walk_through).await;
    first.expect_code(0);
    assert_eq!(first.stdout, expected, "first run; stderr:\n{}", first.stderr);

    // The `edp` section uses the walk-through's hello.sh.
    let cli = edp.bash(block("## From a terminal: `edp`")).await;
    cli.expect_code(0);
    assert!(cli.stdout.contains("hello, again\n"), "`edp logs -f \"$ID\"` prints the job's log:\n{}", cli.stdout);

    let second = edp.bash(walk_through).await;
    second.expect_code(0);
    assert_eq!(second.stdout, expected, "second run; stderr:\n{}", second.stderr);
}
