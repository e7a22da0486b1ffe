//! Tests for the users file format: round trip, syntax errors with keys, semantic errors with
//! lines.

use super::*;
use crate::auth::client_certificate::CertificateLogin;
use crate::auth::password::cheap_hash_for_tests;
use crate::auth::public_key::tests::{KEY_A, KEY_B};
use crate::auth::users_file_render::{render, HEADER};
use crate::vfs::{ObjectPlace, Place};

fn parse_text(text: &str) -> Result<Vec<UserRecord>, UsersFileError> {
    parse(text, Path::new("users.toml"))
}

fn full_example() -> String {
    let hash = cheap_hash_for_tests("pw");
    format!(
        r#"
[[user]]
name = "alice"
password = "{hash}"
home = "alice-home"
enabled = true
protocols = ["sftp", "ftps"]
allowed_networks = ["10.0.0.0/8", "192.0.2.7"]
keys = ["{KEY_A}"]
require_key_and_password = true
tls_session_reuse_exempt = true
quota_bytes = 1073741824
quota_files = 10000
bandwidth_upload_bytes_per_sec = 1048576
bandwidth_download_bytes_per_sec = 2097152
denied_upload_patterns = ["*.exe"]
permissions = ["list", "download", "upload"]

[[user.rule]]
path = "/incoming/../drop"
permissions = ["list", "upload"]

[[user.folder]]
path = "/shared"
dir = "/srv/shared"
read_only = true

[[user]]
name = "bob"
keys = ["{KEY_B}"]
enabled = false
protocols = ["ftp"]
"#,
        hash = hash.as_str()
    )
}

#[test]
fn full_example_parses_with_defaults_and_round_trips() {
    let users = parse_text(&full_example()).unwrap();
    assert_eq!(users.len(), 2);
    let alice = &users[0];
    assert_eq!(alice.name.as_str(), "alice");
    assert!(alice.password.is_some());
    assert_eq!(alice.home, Some(PathBuf::from("alice-home")));
    assert_eq!(alice.allowed_networks.len(), 2);
    assert_eq!(alice.keys.len(), 1);
    assert!(alice.require_key_and_password && alice.tls_session_reuse_exempt);
    assert_eq!(alice.quota.max_bytes, Some(1 << 30));
    assert_eq!(alice.bandwidth.upload.map(|rate| rate.get()), Some(1 << 20));
    assert_eq!(
        alice.bandwidth.download.map(|rate| rate.get()),
        Some(2 << 20)
    );
    assert_eq!(alice.rules[0].path.as_str(), "/drop");
    assert!(alice.folders[0].read_only);
    let bob = &users[1];
    assert!(!bob.enabled);
    assert!(bob.password.is_none());
    assert_eq!(
        bob.protocols.iter().collect::<Vec<_>>(),
        vec![&Protocol::Ftps]
    );
    assert_eq!(bob.permissions, Permissions::ALL);
    assert!(bob.bandwidth.is_unlimited());

    let rendered = render(&users, Path::new("users.toml")).unwrap();
    assert!(rendered.starts_with("# ferryd users file"));
    assert_eq!(parse_text(&rendered).unwrap(), users);
    assert_eq!(
        render(&parse_text(&rendered).unwrap(), Path::new("u")).unwrap(),
        rendered
    );
}

#[test]
fn empty_text_is_no_users_and_renders_to_just_the_header() {
    assert!(parse_text("").unwrap().is_empty());
    assert_eq!(render(&[], Path::new("u")).unwrap(), HEADER);
}

#[test]
fn unknown_key_is_rejected_with_its_name_and_line() {
    let error = parse_text("[[user]]\nname = \"a\"\nquota = 5\n").unwrap_err();
    match &error {
        UsersFileError::Syntax {
            line, column, key, ..
        } => {
            assert_eq!((*line, *column), (3, 1));
            assert_eq!(key.as_deref(), Some("user[0].quota"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("users.toml:3:1: user \"a\": quota: unknown key; expected one of `name`"),
        "{error}"
    );
}

#[test]
fn a_zero_bandwidth_is_refused_rather_than_read_as_unlimited_or_blocked() {
    let error =
        parse_text("[[user]]\nname = \"a\"\nbandwidth_upload_bytes_per_sec = 0\n").unwrap_err();
    assert!(matches!(
        error,
        UsersFileError::Syntax { line: 3, ref key, .. }
            if key.as_deref() == Some("user[0].bandwidth_upload_bytes_per_sec")
    ));
}

#[test]
fn wrong_type_names_the_key() {
    let error = parse_text("[[user]]\nname = \"a\"\nenabled = \"yes\"\n").unwrap_err();
    assert!(matches!(
        error,
        UsersFileError::Syntax { line: 3, ref key, .. } if key.as_deref() == Some("user[0].enabled")
    ));
    assert_eq!(
        error.to_string(),
        "users.toml:3:11: user \"a\": enabled: expected a boolean, found string \"yes\""
    );
    let error = parse_text("[[user]]\nhome = \"x\"\n").unwrap_err();
    assert!(matches!(
        error,
        UsersFileError::Syntax { ref key, .. } if key.as_deref() == Some("user[0].name")
    ));
    assert_eq!(
        error.to_string(),
        "users.toml:1:1: user[0].name: required key is missing"
    );
}

#[test]
fn all_semantic_errors_are_reported_at_once_with_lines() {
    let text = format!(
        r#"[[user]]
name = "-bad"

[[user]]
name = "carol"
password = "not-a-phc"
keys = ["ssh-ed25519 garbage", "{KEY_A}", "{KEY_A}"]
allowed_networks = ["10.0.0.0/33"]
protocols = ["gopher"]
permissions = ["list", "fly"]

[[user.rule]]
path = "relative"
permissions = ["*"]

[[user]]
name = "dave"
keys = ["{KEY_A}", "{KEY_A}"]

[[user.rule]]
path = "/"
permissions = ["*"]

[[user]]
name = "dave"
"#
    );
    let error = parse_text(&text).unwrap_err();
    let summary = problems_of(&error);
    let expect =
        |user: &str, line: usize, fragment: &str| expect_problem(&summary, user, line, fragment);
    expect("-bad", 2, "invalid user name");
    expect("carol", 6, "password");
    expect("carol", 7, "keys[0]");
    expect("carol", 8, "10.0.0.0/33");
    expect("carol", 9, "gopher");
    expect("carol", 10, "fly");
    expect("carol", 13, "relative");
    expect("dave", 18, "listed twice");
    expect("dave", 20, "rule for \"/\"");
    expect("dave", 25, "duplicate user name");
    assert_eq!(summary.len(), 10, "{summary:#?}");
    let display = error.to_string();
    assert_eq!(display.lines().count(), 10);
    assert!(display.lines().all(|line| line.starts_with("users.toml:")));
    assert!(
        !display.contains("not-a-phc"),
        "hash text must not be echoed"
    );
}

#[test]
fn render_refuses_invalid_records() {
    let mut user = UserRecord::new(UserName::parse("x").unwrap());
    user.protocols.clear();
    let twin = UserRecord::new(UserName::parse("x").unwrap());
    let error = render(&[user, twin], Path::new("u")).unwrap_err();
    let UsersFileError::Invalid { problems, .. } = error else {
        panic!("unexpected {error:?}");
    };
    assert_eq!(problems.len(), 2);
    assert!(problems.iter().all(|p| p.line.is_none()));
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("ab\ncd", 0), (1, 1));
    assert_eq!(line_column("ab\ncd", 4), (2, 2));
    assert_eq!(line_column("ä\nöx", 5), (2, 2));
}

#[test]
fn client_certificates_round_trip_in_canonical_form() {
    let text = r#"
[[user]]
name = "partner"
protocols = ["ftps"]
tls_client_certificates = [
  "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00",
  "SHA256:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
]
tls_client_certificate_login = "certificate_and_password"
"#;
    let users = parse_text(text).unwrap();
    let partner = &users[0];
    assert_eq!(
        partner.tls_client_certificate_login,
        CertificateLogin::CertificateAndPassword
    );
    assert_eq!(partner.tls_client_certificates.len(), 2);
    let rendered = render(&users, Path::new("users.toml")).unwrap();
    assert!(
        rendered.contains(
            "\"sha256:A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:\
             11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00\""
        ),
        "{rendered}"
    );
    assert!(rendered.contains("tls_client_certificate_login = \"certificate_and_password\""));
    assert_eq!(parse_text(&rendered).unwrap(), users);
    assert_eq!(
        render(&parse_text(&rendered).unwrap(), Path::new("u")).unwrap(),
        rendered
    );

    // The defaults are left out of a saved file.
    let plain = render(
        &parse_text("[[user]]\nname = \"p\"\n").unwrap(),
        Path::new("u"),
    )
    .unwrap();
    assert!(!plain.contains("tls_client"), "{plain}");
}

#[test]
fn client_certificate_mistakes_are_reported_with_lines() {
    let fingerprint = "sha256:".to_owned() + &["AB"; 32].join(":");
    let text = format!(
        r#"[[user]]
name = "bad"
tls_client_certificates = ["sha1:AB:CD", "{fingerprint}", "abcd"]

[[user]]
name = "twice"
tls_client_certificates = ["{fingerprint}", "{lower}"]

[[user]]
name = "locked"
tls_client_certificate_login = "certificate"
"#,
        lower = fingerprint
            .to_lowercase()
            .replace(':', "")
            .replace("sha256", "")
    );
    let error = parse_text(&text).unwrap_err();
    let summary = problems_of(&error);
    assert_eq!(summary.len(), 4, "{summary:#?}");
    let expect =
        |user: &str, line: usize, fragment: &str| expect_problem(&summary, user, line, fragment);
    expect(
        "bad",
        3,
        "tls_client_certificates[0]: \"sha1\" fingerprints are not accepted",
    );
    expect(
        "bad",
        3,
        "tls_client_certificates[2]: a SHA-256 fingerprint has 64 hex digits",
    );
    expect("twice", 7, "is listed twice");
    expect("locked", 11, "needs at least one fingerprint");

    let error = parse_text("[[user]]\nname = \"m\"\ntls_client_certificate_login = \"cert\"\n")
        .unwrap_err();
    assert!(
        matches!(
            error,
            UsersFileError::Syntax { line: 3, ref key, .. }
                if key.as_deref() == Some("user[0].tls_client_certificate_login")
        ),
        "{error:?}"
    );
}

/// Each problem of an invalid users file as (user, line, message).
fn problems_of(error: &UsersFileError) -> Vec<(String, Option<usize>, String)> {
    let UsersFileError::Invalid { problems, .. } = error else {
        panic!("unexpected {error:?}");
    };
    problems
        .iter()
        .map(|p| (p.user.clone(), p.line, p.error.to_string()))
        .collect()
}

/// Fails unless `summary` has a problem of `user` on `line` mentioning `fragment`.
fn expect_problem(
    summary: &[(String, Option<usize>, String)],
    user: &str,
    line: usize,
    fragment: &str,
) {
    assert!(
        summary
            .iter()
            .any(|(u, l, e)| u == user && *l == Some(line) && e.contains(fragment)),
        "missing {user}:{line}: {fragment} in {summary:#?}"
    );
}

#[test]
fn a_users_umask_round_trips_and_a_bad_one_is_reported_with_its_line() {
    let users = parse_text("[[user]]\nname = \"u\"\numask = \"27\"\n").unwrap();
    assert_eq!(users[0].umask, Some(0o027));
    assert_eq!(users[0].fs_spec(Path::new("/data")).umask, Some(0o027));
    let text = render(&users, Path::new("users.toml")).unwrap();
    assert!(text.contains("umask = \"027\""), "{text}");
    assert_eq!(parse_text(&text).unwrap(), users);
    assert_eq!(
        parse_text("[[user]]\nname = \"v\"\n").unwrap()[0].umask,
        None
    );

    let error = parse_text("[[user]]\nname = \"w\"\numask = \"888\"\n").unwrap_err();
    expect_problem(
        &problems_of(&error),
        "w",
        3,
        "umask: \"888\" is not a umask",
    );
}

#[test]
fn header_points_admins_to_the_published_docs() {
    // Admins read the file, not the rustdoc; the module path meant nothing to them.
    assert!(HEADER.contains("docs/configuration.md"));
    assert!(!HEADER.contains("module"));
    let docs = include_str!("../../docs/configuration.md");
    assert!(docs.contains("## The users file"));
}

#[test]
fn object_storage_homes_and_folders_round_trip_and_become_places() {
    let text = r#"
[[user]]
name = "ci"
storage = "s3"
prefix = "tenants/ci"

[[user.folder]]
path = "/shared"
storage = "s3"
bucket = "shared-data"
prefix = "shared"
read_only = true

[[user.folder]]
path = "/local"
dir = "/srv/local"

[[user]]
name = "dflt"
storage = "s3"

[[user]]
name = "disk"
storage = "local"
"#;
    let users = parse_text(text).unwrap();
    let spec = users[0].fs_spec(Path::new("/data"));
    assert_eq!(
        spec.root,
        Place::Object(ObjectPlace {
            bucket: None,
            prefix: "tenants/ci".to_owned()
        })
    );
    assert_eq!(
        spec.mounts[0].place,
        Place::Object(ObjectPlace {
            bucket: Some("shared-data".to_owned()),
            prefix: "shared".to_owned()
        })
    );
    assert_eq!(
        spec.mounts[1].place,
        Place::Local(PathBuf::from("/srv/local"))
    );
    // The prefix of a home defaults to the user name; `storage = "local"` is the default.
    assert_eq!(
        users[1].fs_spec(Path::new("/data")).root,
        Place::Object(ObjectPlace {
            bucket: None,
            prefix: "dflt".to_owned()
        })
    );
    assert_eq!(
        users[2],
        parse_text("[[user]]\nname = \"disk\"\n").unwrap()[0]
    );
    assert_eq!(
        users[1].home_description(Path::new("/data")),
        "s3://(s3.bucket)/dflt"
    );

    let rendered = render(&users, Path::new("users.toml")).unwrap();
    assert!(rendered.contains("storage = \"s3\""), "{rendered}");
    assert_eq!(parse_text(&rendered).unwrap(), users);
}

#[test]
fn storage_mistakes_are_reported_with_their_lines() {
    let text = r#"[[user]]
name = "a"
storage = "s4"

[[user]]
name = "b"
storage = "s3"
home = "b-home"
prefix = "../x"
bucket = "Bad_Bucket"

[[user]]
name = "c"
bucket = "ferryd"

[[user]]
name = "d"

[[user.folder]]
path = "/both"
storage = "s3"
prefix = "p"
dir = "/srv/x"

[[user.folder]]
path = "/nothing"

[[user]]
name = "e"

[[user.folder]]
path = "/shared"
storage = "s3"
"#;
    let summary = problems_of(&parse_text(text).unwrap_err());
    expect_problem(&summary, "a", 3, "unknown storage \"s4\"");
    expect_problem(&summary, "b", 8, "home does not apply to storage = \"s3\"");
    expect_problem(&summary, "b", 9, "prefix \"../x\"");
    expect_problem(&summary, "b", 10, "bucket \"Bad_Bucket\"");
    expect_problem(
        &summary,
        "c",
        14,
        "bucket does not apply to storage = \"local\"",
    );
    expect_problem(&summary, "d", 23, "folder.dir does not apply");
    expect_problem(&summary, "d", 26, "folder.dir is required");
    expect_problem(&summary, "e", 31, "folder.prefix is required");
}

#[test]
fn a_users_hooks_round_trip_and_a_bad_one_names_the_hook_and_field() {
    let text =
        "[[user]]\nname = \"ci\"\n\n[[user.hook]]\non = [\"upload\"]\npaths = [\"/releases/**\"]\n\
        run = [\"/usr/local/bin/publish\", \"--now\"]\nbefore_commit = true\ntimeout_secs = 60\n\n\
        [[user.hook]]\non = [\"delete\"]\nurl = \"https://hooks.example.com/x\"\n";
    let users = parse_text(text).unwrap();
    assert_eq!(users[0].hooks.len(), 2);
    assert!(users[0].hooks[0].before_commit);
    let rendered = render(&users, Path::new("users.toml")).unwrap();
    assert_eq!(parse_text(&rendered).unwrap(), users, "{rendered}");

    let error = parse_text(
        "[[user]]\nname = \"ci\"\n[[user.hook]]\non = [\"upload\"]\nrun = [\"publish\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("hook[1].run"), "{error}");
    assert!(error.contains("absolute"), "{error}");
    let error = parse_text(
        "[[user]]\nname = \"ci\"\n[[user.hook]]\non = [\"upload\"]\nrun = [\"/bin/true\"]\nusers = [\"bob\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("hook[1].users"), "{error}");
}
