//! The argument front, case by case.

use super::*;

const OPTS: &[Flag] = &[
    Flag::one("--subject", "S", ""),
    Flag::one("--server", "S", ""),
    Flag::one_or_more("--receivers", "R", ""),
    Flag::switch("--insecure", ""),
    Flag::one("--password", "P", ""),
    Flag::switch("--help", "").short("-h"),
];

fn spec(dialect: Dialect) -> Table {
    Table {
        program: "test",
        flags: OPTS,
        dialect,
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn canon(d: Dialect, v: &[&str]) -> Vec<String> {
    spec(d)
        .canonical(&s(v))
        .unwrap_or_else(|e| panic!("{v:?}: {e}"))
}

#[test]
fn prefixes_aliases_and_later_wins_give_one_entry_per_option() {
    for d in [Dialect::Argparse, Dialect::Watchers] {
        assert_eq!(
            canon(
                d,
                &["--subj", "A", "--insec", "-h", "--subject=B", "--serv", "m"]
            ),
            s(&["--insecure", "--help", "--subject=B", "--server=m"]),
            "{d:?}"
        );
    }
    let e = spec(Dialect::Argparse)
        .canonical(&s(&["--s=x"]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ambiguous option: --s could match --subject, --server"
    );
}

#[test]
fn receivers_take_values_up_to_the_next_option_and_a_later_list_replaces() {
    let got = canon(
        Dialect::Argparse,
        &[
            "--receivers",
            "a",
            "b c",
            "--receivers",
            "d",
            "-",
            "--insecure",
        ],
    );
    assert_eq!(got, s(&["--receivers=d", "--receivers=-", "--insecure"]));
    let e = spec(Dialect::Argparse)
        .canonical(&s(&["--receivers=a", "b"]))
        .unwrap_err();
    assert!(
        matches!(e, ArgError::Unrecognized(ref a) if a == "(1 characters, not an option; not shown)"),
        "{e}"
    );
    let e = spec(Dialect::Argparse)
        .canonical(&s(&["--receivers", "--insecure"]))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ArgError::NoValues {
                option: "--receivers"
            }
        ),
        "{e}"
    );
}

#[test]
fn values_that_pico_args_would_misread_survive_the_round_trip() {
    // A value that is an option name, an empty one, quoted ones.
    let line = [
        "--password=--insecure",
        "--subject=",
        "--server='quoted'",
        "--receivers",
        "\"x",
        "-1",
    ];
    let mut p = spec(Dialect::Argparse)
        .line(&s(&line))
        .expect("canonical")
        .arguments();
    assert!(!p.contains("--insecure"), "a value taken for a flag");
    let pw: Option<String> = p.opt_value_from_str("--password").expect("password");
    let subject: Option<String> = p.opt_value_from_str("--subject").expect("subject");
    let server: Option<String> = p.opt_value_from_str("--server").expect("server");
    let receivers: Vec<String> = p.values_from_str("--receivers").expect("receivers");
    assert_eq!(pw.as_deref(), Some("--insecure"));
    assert_eq!(subject.as_deref(), Some(""));
    assert_eq!(server.as_deref(), Some("'quoted'"));
    assert_eq!(receivers, s(&["\"x", "-1"]));
    assert!(p.finish().is_empty());
}

#[test]
fn dialects_differ_where_the_programs_did() {
    // Watchers: `-x` is a value, `--key=` is refused, unknowns are kept.
    assert_eq!(
        canon(Dialect::Watchers, &["stray", "--server", "-x", "--bogus"]),
        s(&["--server=-x", "stray", "--bogus"])
    );
    let w = spec(Dialect::Watchers);
    let texts: Vec<String> = [
        &["--server="][..],
        &["--server", "--insecure"],
        &["--insecure=1"],
    ]
    .iter()
    .map(|v| w.canonical(&s(v)).unwrap_err().to_string())
    .collect();
    assert_eq!(
        texts,
        s(&[
            "--server needs a value",
            "--server needs a value (--server VALUE)",
            "--insecure takes no value"
        ])
    );
    // Argparse: `-x` is an option, `--key=` is an empty value, an
    // unknown argument is an error at once.
    let a = spec(Dialect::Argparse);
    assert!(matches!(
        a.canonical(&s(&["--server", "-x"])),
        Err(ArgError::NoValue {
            option: "--server",
            inline: false
        })
    ));
    assert_eq!(
        canon(Dialect::Argparse, &["--server="]),
        s(&["--server", ""])
    );
    for (bad, named) in [
        ("stray", "(5 characters, not an option; not shown)"),
        ("--", "--"),
        ("--bogus", "--bogus"),
        (
            "--passwd=Secret",
            "--passwd (its value is not shown) (did you mean --password?)",
        ),
        (
            "--Secret-Pass",
            "(13 characters, not an option of any program; not shown)",
        ),
    ] {
        assert!(
            matches!(a.canonical(&s(&[bad])), Err(ArgError::Unrecognized(ref x)) if x == named),
            "{bad}"
        );
    }
}

#[test]
fn defaults_fill_what_the_line_does_not_give_and_do_not_count_as_given() {
    const WITH_DEFAULTS: &[Flag] = &[
        Flag::one("--port", "PORT", "").default("587"),
        Flag::one("--body", "BODY", "").default(""),
        Flag::one("--user", "USER", ""),
    ];
    let t = Table {
        program: "test",
        flags: WITH_DEFAULTS,
        dialect: Dialect::Argparse,
    };
    let line = t.line(&s(&["--user=u"])).expect("line");
    assert_eq!(line.list, s(&["--user=u", "--port=587", "--body", ""]));
    assert!(line.given("--user") && !line.given("--port") && !line.given("--body"));
    let line = t.line(&s(&["--port", "25"])).expect("line");
    assert_eq!(line.list, s(&["--port=25", "--body", ""]));
    assert!(line.given("--port"));
}

#[test]
fn a_refused_line_still_names_its_early_flags() {
    const EARLY: &[Flag] = &[
        Flag::one("--config", "PATH", ""),
        Flag::switch("--nagios", "").early(),
        Flag::switch("--json", ""),
        Flag::switch("--help", "").short("-h").early(),
    ];
    for dialect in [Dialect::Watchers, Dialect::Argparse] {
        let t = Table {
            program: "test",
            flags: EARLY,
            dialect,
        };
        for (args, early) in [
            (&["--nag", "--config"][..], &["--nagios"][..]),
            (&["--config", "--n"], &["--nagios"]),
            (&["--n=x"], &["--nagios"]),
            (&["--json=1", "-h", "--nagios"], &["--nagios", "--help"]),
            (&["--json=1", "--nagiosx", "--config=--nagios"], &[]),
        ] {
            let r = t.line(&s(args)).expect_err("refused");
            assert_eq!(r.early, early, "{dialect:?} {args:?}: {}", r.error);
        }
        let r = t
            .read(vec!["@/nonexistent/args.txt".into(), "--nagios".into()])
            .expect_err("no such file");
        assert!(matches!(r.error, ArgError::File(_)), "{}", r.error);
        assert!(r.named("--nagios") && !r.named("--help"));
    }
}
