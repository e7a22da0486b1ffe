//! docs/ci.md, executed: every fenced block marked `<!-- recipe: NAME -->` runs as written
//! (`bash -euo pipefail`) against the real daemon, sandbox on, configured with the page's own
//! users-file and hook snippets; then the server's side is checked (the artifact byte for
//! byte in its folder, the hook's published copy and `.sha256`, the deploy user's refusals).
//!
//! The page is the source of truth: a marked block this file does not know, or a recipe it
//! expects that the page lost, fails `the_marked_blocks_of_docs_ci_md_are_exactly_the_known_ones`,
//! so no recipe can be added untested. A missing client fails under CI and is skipped loudly
//! elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tokio::process::Command;

use crate::harness::daemon::{binary, write_daemon_config, Daemon};
use crate::harness::ftp_client::FtpClient;
use crate::harness::sftp_client;

/// The page, read at compile time so an edit to it rebuilds (and reruns) this file.
const DOC: &str = include_str!("../../docs/ci.md");

/// Every recipe of the page, in the order the run needs them: credentials before the user,
/// the user before the reload, the server's identity before the clients that check it, the
/// uploads before the refusals that reuse their releases.
const RECIPES: &[&str] = &[
    "deploy-credentials",
    "deploy-user",
    "server-reload",
    "ftps-pin",
    "known-hosts",
    "curl-ftps",
    "curl-ftps-pinned",
    "lftp-put",
    "lftp-mirror",
    "rclone-sftp",
    "openssh-sftp",
    "scp",
    "scp-legacy",
    "curl-republish",
    "sftp-download-refused",
];

/// The recipes that upload `$ARTIFACT` to `/releases/$RELEASE/` (each its own release).
const UPLOADS: &[&str] = &[
    "curl-ftps",
    "curl-ftps-pinned",
    "lftp-put",
    "lftp-mirror",
    "rclone-sftp",
    "openssh-sftp",
    "scp",
    "scp-legacy",
];

/// The configuration snippets the test splices in instead of running.
const SNIPPETS: &[&str] = &["users-file: deploy-user", "config: publish-hook"];

/// Where the page's hook publishes; the test substitutes a temp dir for it.
const DOC_PUBLISH_DIR: &str = "/srv/releases";

/// The tools the recipes call; ferryd itself comes from this build.
const TOOLS: &[&str] = &[
    "curl",
    "lftp",
    "rclone",
    "sftp",
    "scp",
    "ssh-keyscan",
    "ssh-keygen",
    "openssl",
    "sha256sum",
];

const ARTIFACT_NAME: &str = "app-1.4.2.tar.gz";

/// One marked fenced block of the page.
#[derive(Debug)]
struct Block {
    /// `recipe`, `config` or `users-file`.
    kind: String,
    name: String,
    /// The exit status the page says the recipe ends with (`exit=N`; default 0).
    exit: i32,
    body: String,
}

impl Block {
    fn key(&self) -> String {
        format!("{}: {}", self.kind, self.name)
    }
}

/// Every `<!-- KIND: NAME [exit=N] -->` marker and the fenced block right below it. A marker
/// not followed by a fence is a mistake in the page, not something to skip.
fn blocks(doc: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut lines = doc.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!--")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        let Some((kind, rest)) = marker.trim().split_once(':') else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let name = words.next().unwrap_or_default().to_owned();
        let exit = words
            .find_map(|word| word.strip_prefix("exit="))
            .map_or(0, |code| code.parse().unwrap());
        let (_, fence) = lines.next().unwrap();
        assert!(
            fence.starts_with("```"),
            "docs/ci.md:{}: marker {marker:?} is not right above a fenced block",
            number + 1
        );
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, line)| line)
            .take_while(|line| !line.starts_with("```"))
            .collect();
        found.push(Block {
            kind: kind.trim().to_owned(),
            name,
            exit,
            body: body.join("\n") + "\n",
        });
    }
    found
}

fn block<'a>(blocks: &'a [Block], key: &str) -> &'a Block {
    blocks
        .iter()
        .find(|block| block.key() == key)
        .unwrap_or_else(|| panic!("docs/ci.md has no block {key:?}"))
}

#[test]
fn the_marked_blocks_of_docs_ci_md_are_exactly_the_known_ones() {
    let blocks = blocks(DOC);
    let mut seen = std::collections::BTreeSet::new();
    for block in &blocks {
        assert!(
            seen.insert(block.key()),
            "{:?} is marked twice",
            block.key()
        );
        let known = match block.kind.as_str() {
            "recipe" => RECIPES.contains(&block.name.as_str()),
            _ => SNIPPETS.contains(&block.key().as_str()),
        };
        assert!(
            known,
            "docs/ci.md marks {:?}, which tests/it/ci_recipes.rs does not run: add it there",
            block.key()
        );
    }
    for name in RECIPES {
        assert!(
            seen.contains(&format!("recipe: {name}")),
            "docs/ci.md lost the recipe {name:?}"
        );
    }
    for key in SNIPPETS {
        assert!(seen.contains(*key), "docs/ci.md lost the block {key:?}");
    }
    // The documented variables are the recipes' only inputs besides what they create.
    for variable in ["FERRYD_HOST", "DEPLOY_KEY", "ARTIFACT", "RELEASE"] {
        assert!(DOC.contains(&format!("| `{variable}`")), "{variable}");
    }
}

/// What a recipe run left.
struct Ran {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The daemon's side and the pipeline's side of one run of the page.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    publish: PathBuf,
    artifact: Vec<u8>,
    env: BTreeMap<&'static str, String>,
}

impl Setup {
    fn new(hook: &Block) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["ci", "dist", "home", "bin", "publish", "runs"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        // An empty users file, as `ferryd init` leaves it. Without one the daemon starts (a
        // missing file is no users), but its hook runner's first read of the allow-list fails
        // on it (`UserDb::load_existing`), so global hooks are refused for up to a second
        // after start (retried, then run): a ferryd quirk this test does not hide behind.
        std::fs::create_dir_all(root.join("state")).unwrap();
        std::fs::write(root.join("state/users.toml"), "").unwrap();
        std::fs::set_permissions(
            root.join("state/users.toml"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        // The folder the page tells the admin to create.
        std::fs::create_dir_all(root.join("data/deploy/releases")).unwrap();
        let publish = root.join("publish");
        let hook = hook
            .body
            .replace(DOC_PUBLISH_DIR, publish.to_str().unwrap());
        // No `user add`: the page's own recipes create the user.
        let config = write_daemon_config(root, &hook);
        // `ferryd` on the recipes' PATH is this build.
        std::os::unix::fs::symlink(binary(), root.join("bin/ferryd")).unwrap();
        // Random bytes: nothing on the way can compress or fake them.
        let mut artifact = vec![0u8; 3 * 1024 * 1024 + 17];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut artifact);
        let artifact_path = root.join("dist").join(ARTIFACT_NAME);
        std::fs::write(&artifact_path, &artifact).unwrap();

        let path = |relative: &str| root.join(relative).display().to_string();
        let mut env = BTreeMap::new();
        env.insert("FERRYD_HOST", "127.0.0.1".to_owned());
        env.insert("FERRYD_CA", path("ci/ferryd-ca.pem"));
        env.insert("FERRYD_KNOWN_HOSTS", path("ci/ferryd_known_hosts"));
        env.insert("DEPLOY_KEY", path("ci/deploy_key"));
        env.insert("DEPLOY_CERT", path("ci/deploy-cert.pem"));
        env.insert("DEPLOY_CERT_KEY", path("ci/deploy-cert-key.pem"));
        env.insert("ARTIFACT", artifact_path.display().to_string());
        // The server-side recipes' `ferryd` finds its config the documented way.
        env.insert("FERRYD_CONFIG", config.display().to_string());
        Setup {
            dir,
            config,
            publish,
            artifact,
            env,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Runs one recipe in a fresh directory with only the documented variables (plus PATH
    /// and a private HOME, so no ~/.ssh, agent or rclone config of the machine takes part).
    async fn run(&self, recipe: &Block, release: &str) -> Ran {
        let cwd = self.root().join("runs").join(&recipe.name);
        std::fs::create_dir_all(&cwd).unwrap();
        let path = format!(
            "{}:{}",
            self.root().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("bash");
        command
            .args(["-euo", "pipefail", "-c", &recipe.body])
            .current_dir(&cwd)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.root().join("home"))
            .env("LANG", "C.UTF-8")
            .env("RELEASE", release)
            .envs(&self.env)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(30), command.output())
            .await
            .unwrap_or_else(|_| panic!("recipe {:?} hung", recipe.name))
            .unwrap();
        Ran {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Adds the page's users-file snippet to the entry `ferryd user add` wrote: each key of
    /// the snippet's `[[user]]` replaces or joins the entry's, as an admin's edit would.
    fn apply_users_snippet(&self, snippet: &Block) {
        let users_file = self.root().join("state/users.toml");
        let mut users: toml::Table = toml::from_str(&std::fs::read_to_string(&users_file).unwrap())
            .expect("users file after `ferryd user add`");
        let snippet: toml::Table = toml::from_str(&snippet.body).unwrap();
        let wanted = &snippet["user"].as_array().unwrap()[0];
        let name = wanted["name"].as_str().unwrap();
        let entry = users["user"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|entry| entry["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no user {name} in the users file"))
            .as_table_mut()
            .unwrap();
        for (key, value) in wanted.as_table().unwrap() {
            entry.insert(key.clone(), value.clone());
        }
        // A plain write keeps the file's 0600 mode, which the daemon insists on.
        std::fs::write(&users_file, toml::to_string(&users).unwrap()).unwrap();
    }

    /// Checks that `release` holds exactly the artifact on the server, and that the hook
    /// published it with a matching `.sha256`.
    fn check_published(&self, release: &str) {
        let folder = self.root().join("data/deploy/releases").join(release);
        let names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [ARTIFACT_NAME],
            "{release}: only the artifact, no leftovers"
        );
        // `assert!(a == b)`, not `assert_eq!`: a failure must not print 3 MiB of bytes.
        assert!(
            std::fs::read(folder.join(ARTIFACT_NAME)).unwrap() == self.artifact,
            "{release}: the stored artifact differs"
        );
        let published = self.publish.join(release).join(ARTIFACT_NAME);
        let checksum = wait_for_file(&published.with_file_name(format!("{ARTIFACT_NAME}.sha256")));
        let digest = hex::encode(Sha256::digest(&self.artifact));
        assert_eq!(
            checksum,
            format!("{digest}  {ARTIFACT_NAME}\n"),
            "{release}"
        );
        assert!(
            std::fs::read(&published).unwrap() == self.artifact,
            "{release}: the published copy differs"
        );
    }
}

/// Waits up to 20 s for the hook to write `path`; its text. The hook renames the artifact into
/// place before it writes the checksum, so a checksum means both are complete.
fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The release each recipe uses: its own name, or for a refusal the release an earlier
/// recipe published.
fn release_for(recipe: &str) -> &str {
    match recipe {
        "curl-republish" => "curl-ftps",
        "sftp-download-refused" => "openssh-sftp",
        other => other,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipes_of_docs_ci_md_publish_as_a_key_only_upload_only_user() {
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|tool| which(tool).is_none())
        .collect();
    if !crate::harness::needs(missing.is_empty(), &format!("missing {missing:?}")) {
        return;
    }
    let blocks = blocks(DOC);
    let mut setup = Setup::new(block(&blocks, "config: publish-hook"));
    let daemon = Daemon::start(&setup.config);
    let listening = daemon.listening_addresses(2);
    let (ftps, sftp) = (listening[0], listening[1]);
    setup
        .env
        .insert("FERRYD_FTPS_PORT", ftps.port().to_string());
    setup
        .env
        .insert("FERRYD_SFTP_PORT", sftp.port().to_string());
    // What the admin hands the pipeline: the generated (self-signed) certificate.
    std::fs::copy(
        setup.root().join("state/ftps-cert.pem"),
        &setup.env["FERRYD_CA"],
    )
    .unwrap();

    for name in RECIPES {
        let recipe = block(&blocks, &format!("recipe: {name}"));
        let release = release_for(name);
        let ran = setup.run(recipe, release).await;
        assert_eq!(
            ran.status,
            Some(recipe.exit),
            "recipe {name:?} ended with {:?}, docs/ci.md says {}\nstdout:\n{}\nstderr:\n{}\ndaemon:\n{}",
            ran.status,
            recipe.exit,
            ran.stdout,
            ran.stderr,
            daemon.stderr()
        );
        match *name {
            "deploy-user" => setup.apply_users_snippet(block(&blocks, "users-file: deploy-user")),
            // The pin the page prints is what the pinned recipe gets.
            "ftps-pin" => {
                let pin = ran.stdout.trim().to_owned();
                assert_eq!(pin.len(), 44, "a base64 SHA-256: {pin:?}");
                setup.env.insert("FERRYD_PIN", pin);
            }
            // The fingerprints the page says to compare are the ones the daemon logged, every
            // key type (rclone needs the ECDSA one).
            "known-hosts" => {
                let logged = host_key_fingerprints(&daemon.stderr());
                assert_eq!(logged.len(), 2, "ed25519 and ECDSA: {logged:?}");
                for fingerprint in logged {
                    assert!(ran.stdout.contains(&fingerprint), "{}", ran.stdout);
                }
            }
            "curl-republish" => assert!(ran.stderr.contains("(25)"), "{}", ran.stderr),
            "sftp-download-refused" => {
                assert!(ran.stderr.contains("Permission denied"), "{}", ran.stderr);
                let copy = setup.root().join("runs").join(name).join("copy");
                assert!(!copy.exists(), "nothing was downloaded");
            }
            upload if UPLOADS.contains(&upload) => setup.check_published(release),
            _ => {}
        }
    }

    refusals(&setup, ftps, sftp).await;
    daemon.signal("TERM");
    let exit = daemon.wait(Duration::from_secs(30));
    assert_eq!(exit.status.code(), Some(0), "stderr:\n{}", exit.stderr);
    assert_eq!(
        exit.stderr.matches("hook ran").count(),
        UPLOADS.len(),
        "one publish per upload, none for refusals:\n{}",
        exit.stderr
    );
    assert!(!exit.stderr.contains("hook failed"), "{}", exit.stderr);
}

/// What the deploy user may not do, beyond the page's two failing recipes: checked with an
/// SFTP library on the recipes' own key, and an FTPS login without the certificate.
async fn refusals(setup: &Setup, ftps: std::net::SocketAddr, sftp: std::net::SocketAddr) {
    let key = russh::keys::load_secret_key(&setup.env["DEPLOY_KEY"], None).unwrap();
    let connection = sftp_client::login_key(sftp, "deploy", &key)
        .await
        .expect("the deploy key logs in");
    let session = sftp_client::open_sftp(&connection).await;
    let published = format!("/releases/curl-ftps/{ARTIFACT_NAME}");
    assert!(
        session.read_dir("/").await.is_err(),
        "listing / outside /releases"
    );
    assert!(session.read(&published).await.is_err(), "download inside");
    assert!(
        session.remove_file(&published).await.is_err(),
        "delete inside"
    );
    assert!(
        session
            .rename(&published, "/releases/curl-ftps/renamed")
            .await
            .is_err(),
        "rename inside"
    );
    assert!(
        session.write(&published, b"replaced").await.is_err(),
        "overwrite inside"
    );
    assert!(
        session.write("/outside.txt", b"x").await.is_err(),
        "upload outside /releases"
    );
    assert!(
        session.create_dir("/elsewhere").await.is_err(),
        "mkdir outside"
    );
    let listing = session.read_dir("/releases").await.expect("list inside");
    assert!(listing.count() >= UPLOADS.len());
    let stored = setup
        .root()
        .join("data/deploy/releases/curl-ftps")
        .join(ARTIFACT_NAME);
    assert!(
        std::fs::read(stored).unwrap() == setup.artifact,
        "untouched"
    );
    assert!(!setup.root().join("data/deploy/outside.txt").exists());

    // No password exists to guess: FTPS without the pinned certificate never logs in.
    let mut client = FtpClient::explicit(ftps).await;
    assert_eq!(client.cmd("USER deploy").await.code, 331);
    assert_eq!(client.cmd("PASS guessed").await.code, 530);
}

/// The `SHA256:…` fingerprints of the host keys in the daemon's start-up log.
fn host_key_fingerprints(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains("SSH host key algorithm="))
        .filter_map(|line| {
            let value = line.split("fingerprint=").nth(1)?;
            Some(value.split_whitespace().next()?.to_owned())
        })
        .collect()
}

/// `tool`'s path on PATH, if it is there.
fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|candidate| candidate.is_file())
    })
}
