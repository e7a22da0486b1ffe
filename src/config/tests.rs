//! Unit tests for config loading and validation.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

fn problems(text: &str) -> Vec<Problem> {
    match parse(text) {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(error) => error.problems().to_vec(),
    }
}

#[test]
fn built_in_defaults_use_standard_ports() {
    let config = parse("").unwrap();
    assert_eq!(
        config,
        Config {
            source: Some("test.toml".into()),
            ..Config::default()
        }
    );
    assert_eq!(config.ftps.listen, Some("0.0.0.0:21".parse().unwrap()));
    assert_eq!(
        config.ftps.implicit_listen,
        Some("0.0.0.0:990".parse().unwrap())
    );
    assert_eq!(config.sftp.listen, Some("0.0.0.0:22".parse().unwrap()));
    assert_eq!(config.ftps.passive_ports, 50000..=50100);
    assert!(config.ftps.require_tls);
    assert!(config.ftps.require_tls_session_reuse);
    assert_eq!(
        config.auth.users_file,
        PathBuf::from("/var/lib/ferryd/state/users.toml")
    );
    assert_eq!(
        config.ftps.cert,
        PathBuf::from("/var/lib/ferryd/state/ftps-cert.pem")
    );
    assert_eq!(config.sftp.host_keys.len(), 2);
    assert_eq!(config.passive_port_count(), 101);
}

#[test]
fn quickstart_and_reference_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["config/quickstart.toml", "config/ferryd.toml"] {
        let config = Config::load(&root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(config.ftps.enabled && config.sftp.enabled, "{name}");
    }
    let quickstart = Config::load(&root.join("config/quickstart.toml")).unwrap();
    assert_eq!(quickstart.ftps.listen.map(|a| a.port()), Some(2121));
    assert_eq!(
        quickstart.ftps.implicit_listen.map(|a| a.port()),
        Some(2990)
    );
    assert_eq!(quickstart.sftp.listen.map(|a| a.port()), Some(2222));
    assert!(quickstart.server.bootstrap_user.is_some());
    assert!(quickstart.server.data_dir.is_relative());
}

#[test]
fn unknown_key_is_reported_with_its_name_and_line() {
    let found = problems("[server]\nmax_connections = 5\nmax_conections = 5\n");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].key, "server.max_conections");
    assert_eq!(
        found[0].message,
        "unknown key; did you mean `max_connections`?"
    );
    assert_eq!(found[0].position.map(|p| p.0), Some(3));
}

/// The single problem a text has, as `(key, line, message)`.
fn only_problem(text: &str) -> (String, usize, String) {
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:?}");
    let problem = found.into_iter().next().unwrap();
    let line = problem.position.expect("a line").0;
    (problem.key, line, problem.message)
}

#[test]
fn wrong_type_names_the_key_what_was_expected_and_the_line() {
    let text = "[server]\ndata_dir = \"d\"\nmax_connections = \"many\"\n";
    assert_eq!(
        only_problem(text),
        (
            "server.max_connections".into(),
            3,
            "expected an integer, found string \"many\"".into()
        )
    );
    let error = parse(text).unwrap_err().to_string();
    assert!(
        error.contains("\n  test.toml:3:19: server.max_connections: expected an integer, found string \"many\""),
        "{error}"
    );
    assert!(!error.contains("i64"), "{error}");
}

#[test]
fn wrong_type_in_tables_and_arrays_names_the_full_path() {
    let cases: [(&str, &str, usize, &str); 6] = [
        (
            "[ftps]\nrequire_tls = \"yes\"\n",
            "ftps.require_tls",
            2,
            "expected a boolean, found string \"yes\"",
        ),
        (
            "[sftp]\nhost_keys = [\"a\", 5]\n",
            "sftp.host_keys[1]",
            2,
            "expected a string, found integer `5`",
        ),
        (
            "[[ftps.passive_address_overrides]]\nnetworks = [\"10.0.0.0/8\"]\naddress = \"192.0.2.1\"\n\
             [[ftps.passive_address_overrides]]\nnetworks = \"10.1.0.0/16\"\naddress = \"192.0.2.2\"\n",
            "ftps.passive_address_overrides[1].networks",
            5,
            "expected an array, found string \"10.1.0.0/16\"",
        ),
        (
            "[ftps]\npassive_address_overrides = [{ networks = [], address = 5 }]\n",
            "ftps.passive_address_overrides[0].address",
            2,
            "expected a string, found integer `5`",
        ),
        (
            "[defender]\nthreshold = 1.5\n",
            "defender.threshold",
            2,
            "expected an integer, found floating point `1.5`",
        ),
        ("server = 5\n", "server", 1, "expected a table, found integer `5`"),
    ];
    for (text, key, line, message) in cases {
        assert_eq!(
            only_problem(text),
            (key.into(), line, message.into()),
            "{text}"
        );
    }
}

#[test]
fn unknown_key_in_an_array_of_tables_lists_the_keys_when_no_name_is_close() {
    let (key, line, message) =
        only_problem("[[ftps.passive_address_overrides]]\nnetworks = []\nport = 1\n");
    assert_eq!(
        (key.as_str(), line),
        ("ftps.passive_address_overrides[0].port", 3)
    );
    assert_eq!(
        message,
        "unknown key; expected one of `networks` or `address`"
    );
    let (key, _, message) = only_problem("[nope]\n");
    assert_eq!(key, "nope");
    assert!(message.starts_with("unknown key; expected one of `server`"));
}

#[test]
fn missing_required_key_names_it() {
    assert_eq!(
        only_problem("[server]\n\n[[ftps.passive_address_overrides]]\nnetworks = []\n"),
        (
            "ftps.passive_address_overrides[0].address".into(),
            3,
            "required key is missing".into()
        )
    );
}

#[test]
fn bad_enum_value_names_the_key_and_the_choices() {
    assert_eq!(
        only_problem("[log]\nformat = \"xml\"\n"),
        (
            "log.format".into(),
            2,
            "\"xml\" is not a log format (expected \"text\" or \"json\")".into()
        )
    );
}

#[test]
fn syntax_errors_name_the_key_of_their_line_on_one_line() {
    let cases: [(&str, &str, usize); 4] = [
        ("[sftp]\nlisten = \"127.0.0.1:2222\n", "sftp.listen", 2),
        (
            "[server]\nmax_connections = 5 6\n",
            "server.max_connections",
            2,
        ),
        (
            "[server]\nmax_connections = 99999999999999999999\n",
            "server.max_connections",
            2,
        ),
        (
            "[server]\nmax_connections = 1\nmax_connections = 2\n",
            "server.max_connections",
            3,
        ),
    ];
    for (text, key, line) in cases {
        let (found_key, found_line, message) = only_problem(text);
        assert_eq!((found_key.as_str(), found_line), (key, line), "{text}");
        assert!(!message.contains('\n'), "{message:?}");
    }
    let (key, line, message) = only_problem("[server]\n[server]\n");
    assert_eq!(
        (key.as_str(), line, message.as_str()),
        ("server", 2, "table is written twice")
    );
}

#[test]
fn syntax_error_has_a_line() {
    let found = problems("[server\n");
    assert_eq!(found[0].key, "TOML syntax");
    assert!(!found[0].message.contains('\n'), "{:?}", found[0].message);
    assert_eq!(found[0].position.map(|p| p.0), Some(1));
}

#[test]
fn every_bad_value_is_reported_at_once() {
    let text = r#"
[server]
max_connections = 0
idle_timeout_secs = -1
bootstrap_user = "-bad"

[ftps]
listen = "not an address"
passive_ports = "60000-50000"
passive_address = "bad address!"
tls_session_reuse_exempt_networks = ["10.0.0.0/33"]

[log]
format = "xml"
level = "=="
"#;
    let found = problems(text);
    let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.bootstrap_user",
            "server.max_connections",
            "server.idle_timeout_secs",
            "ftps.passive_ports",
            "ftps.passive_address",
            "ftps.listen",
            "ftps.tls_session_reuse_exempt_networks",
            "log.format",
            "log.level",
        ]
    );
    let listen = found.iter().find(|p| p.key == "ftps.listen").unwrap();
    assert_eq!(listen.position, Some((8, 1)));
    assert!(found.iter().all(|p| p.position.is_some()), "{found:?}");
}

#[test]
fn empty_listen_turns_a_listener_off() {
    let config = parse("[ftps]\nimplicit_listen = \"\"\n[sftp]\nlisten = \"\"\n").unwrap();
    assert_eq!(config.ftps.implicit_listen, None);
    assert_eq!(config.sftp.listen, None);
}

#[test]
fn passive_address_accepts_ip_or_host_name() {
    let config = parse(
        r#"[ftps]
passive_address = "ftp.example.com"
passive_address_overrides = [{ networks = ["10.0.0.0/8", "192.168.1.7"], address = "10.0.0.5" }]
"#,
    )
    .unwrap();
    assert_eq!(
        config.ftps.passive_address,
        Some(PassiveAddress::Host("ftp.example.com".into()))
    );
    let override_ = &config.ftps.passive_address_overrides[0];
    assert_eq!(
        override_.address,
        PassiveAddress::Ip("10.0.0.5".parse().unwrap())
    );
    assert_eq!(
        override_.networks[1],
        "192.168.1.7/32".parse::<IpNet>().unwrap()
    );
}

#[test]
fn shared_listen_addresses_are_refused() {
    let found =
        problems("[ftps]\nlisten = \"127.0.0.1:2121\"\n[sftp]\nlisten = \"127.0.0.1:2121\"\n");
    assert_eq!(found[0].key, "sftp.listen");
    // Port 0 (tests) means "any free port": never a clash.
    parse("[ftps]\nlisten = \"127.0.0.1:0\"\nimplicit_listen = \"127.0.0.1:0\"\n[sftp]\nlisten = \"127.0.0.1:0\"\n")
        .unwrap();
}

#[test]
fn relative_state_files_live_in_state_dir() {
    let config = parse(
        "[server]\nstate_dir = \"st\"\n[ftps]\ncert = \"c.pem\"\nkey = \"/abs/k.pem\"\n[auth]\nusers_file = \"u.toml\"\n",
    )
    .unwrap();
    assert_eq!(config.ftps.cert, PathBuf::from("st/c.pem"));
    assert_eq!(config.ftps.key, PathBuf::from("/abs/k.pem"));
    assert_eq!(config.auth.users_file, PathBuf::from("st/u.toml"));
}

#[test]
fn banner_control_characters_are_removed() {
    let config = parse("[ftps]\nbanner = \"hi\\r\\n230 fake\"\n").unwrap();
    assert_eq!(config.ftps.banner, "hi  230 fake");
}

#[test]
fn user_name_rule() {
    for good in ["alice", "ci-bot", "a.b_c", "X1"] {
        assert!(is_valid_user_name(good), "{good}");
    }
    for bad in ["", "-x", ".x", "a b", "a/b", "ü", &"x".repeat(65)] {
        assert!(!is_valid_user_name(bad), "{bad}");
    }
}

#[test]
fn missing_file_is_a_read_error() {
    let error = Config::load(Path::new("/nonexistent/ferryd.toml")).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(error.to_string().contains("/nonexistent/ferryd.toml"));
}

#[test]
fn sandbox_is_on_by_default_and_extra_paths_must_be_absolute() {
    let config = parse("").unwrap();
    assert!(config.sandbox.enabled && config.sandbox.landlock && config.sandbox.seccomp);
    let config =
        parse("[sandbox]\nseccomp = false\nextra_write_paths = [\"/srv/shared\"]\n").unwrap();
    assert!(!config.sandbox.seccomp);
    assert_eq!(
        config.sandbox.extra_write_paths,
        [PathBuf::from("/srv/shared")]
    );
    let found = problems("[sandbox]\nextra_read_paths = [\"relative/dir\"]\n");
    assert_eq!(found[0].key, "sandbox.extra_read_paths");
}

#[test]
fn leftover_uploads_are_removed_hourly_by_default_and_configurable() {
    let config = parse("").unwrap();
    assert_eq!(config.server.leftover_uploads, LeftoverUploads::Remove);
    assert_eq!(
        config.server.leftover_scan_interval,
        Some(Duration::from_secs(3600))
    );
    assert_eq!(
        config.server.leftover_uploads_dir,
        PathBuf::from("/var/lib/ferryd/state/leftover-uploads")
    );
    assert_eq!(config.server.leftover_scan_max_entries, 1_000_000);
    let config = parse(
        "[server]\nleftover_uploads = \"move\"\nleftover_uploads_dir = \"/srv/debris\"\n\
         leftover_scan_interval_secs = 0\nleftover_scan_max_entries = 10\n",
    )
    .unwrap();
    assert_eq!(config.server.leftover_uploads, LeftoverUploads::Move);
    assert_eq!(
        config.server.leftover_uploads_dir,
        PathBuf::from("/srv/debris")
    );
    assert_eq!(config.server.leftover_scan_interval, None);
    assert_eq!(config.server.leftover_scan_max_entries, 10);
    assert_eq!(
        parse("[server]\nleftover_uploads = \"keep\"\n")
            .unwrap()
            .server
            .leftover_uploads,
        LeftoverUploads::Keep
    );
    let found = problems(
        "[server]\nleftover_uploads = \"delete\"\nleftover_scan_interval_secs = -1\n\
         leftover_scan_max_entries = 0\nleftover_uploads_dir = \"\"\n",
    );
    let keys: Vec<&str> = found.iter().map(|problem| problem.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.leftover_uploads",
            "server.leftover_uploads_dir",
            "server.leftover_scan_interval_secs",
            "server.leftover_scan_max_entries"
        ]
    );
}

#[test]
fn umask_is_octal_text_up_to_777() {
    assert_eq!(parse("").unwrap().server.umask, 0o022);
    assert_eq!(
        parse("[server]\numask = \"027\"\n").unwrap().server.umask,
        0o027
    );
    assert_eq!(parse("[server]\numask = \"0\"\n").unwrap().server.umask, 0);
    assert_eq!(parse_umask("0777"), Ok(0o777));
    for bad in ["", "8", "0o22", "1777", "-22", "12345", "22 7"] {
        assert!(parse_umask(bad).is_err(), "{bad:?}");
    }
    let found = problems("[server]\numask = \"099\"\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, "server.umask");
    assert!(found[0].message.contains("not a umask"), "{found:?}");
}
