//! PWD, CWD, CDUP, MKD, RMD, DELE, RNFR/RNTO, SIZE, MDTM, MFMT, SITE, AVBL, HASH, checksums,
//! MLST and STAT, with their effects on disk.

use super::fixture::Fixture;

#[tokio::test]
async fn pwd_quotes_the_current_directory() {
    let mut ftp = Fixture::logged_in().await;
    let outcome = ftp.send("PWD").await;
    assert_eq!(
        (outcome.code(), outcome.text()),
        (257, "\"/\" is the current directory")
    );
}

#[tokio::test]
async fn cwd_enters_directories_only() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("d/a.txt", b"a");
    assert_eq!(ftp.code("CWD d").await, 250);
    assert_eq!(ftp.session.cwd.as_str(), "/d");
    assert_eq!(ftp.code("CWD a.txt").await, 550);
    assert_eq!(ftp.code("CWD /missing").await, 550);
    assert_eq!(ftp.session.cwd.as_str(), "/d");
}

#[tokio::test]
async fn cdup_goes_up_and_stops_at_the_root() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("d/e/a.txt", b"a");
    assert_eq!(ftp.code("CWD /d/e").await, 250);
    assert_eq!(ftp.code("CDUP").await, 250);
    assert_eq!(ftp.session.cwd.as_str(), "/d");
    assert_eq!(ftp.code("CDUP").await, 250);
    assert_eq!(ftp.code("CDUP").await, 250);
    assert_eq!(ftp.session.cwd.as_str(), "/");
}

#[tokio::test]
async fn mkd_creates_a_directory() {
    let mut ftp = Fixture::logged_in().await;
    let outcome = ftp.send("MKD new").await;
    assert_eq!((outcome.code(), outcome.text()), (257, "\"/new\" created"));
    assert!(ftp.home().join("new").is_dir());
    assert_eq!(ftp.code("MKD new").await, 550);
}

#[tokio::test]
async fn rmd_removes_an_empty_directory_only() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("full/a.txt", b"a");
    std::fs::create_dir(ftp.home().join("empty")).unwrap();
    assert_eq!(ftp.code("RMD empty").await, 250);
    assert!(!ftp.exists("empty"));
    assert_eq!(ftp.code("RMD full").await, 550);
    assert!(ftp.exists("full/a.txt"));
}

#[tokio::test]
async fn dele_removes_a_file() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("a.txt", b"a");
    assert_eq!(ftp.code("DELE a.txt").await, 250);
    assert!(!ftp.exists("a.txt"));
    assert_eq!(ftp.code("DELE a.txt").await, 550);
}

#[tokio::test]
async fn rnfr_rnto_renames() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("a.txt", b"a");
    assert_eq!(ftp.code("RNFR a.txt").await, 350);
    assert_eq!(ftp.code("RNTO b.txt").await, 250);
    assert_eq!(ftp.read("b.txt").as_deref(), Some(&b"a"[..]));
    assert!(!ftp.exists("a.txt"));
}

#[tokio::test]
async fn rnto_needs_rnfr_right_before() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("a.txt", b"a");
    assert_eq!(ftp.code("RNTO b.txt").await, 503);
    assert_eq!(ftp.code("RNFR a.txt").await, 350);
    assert_eq!(ftp.code("NOOP").await, 200);
    assert_eq!(ftp.code("RNTO b.txt").await, 503);
    assert_eq!(ftp.code("RNFR missing").await, 550);
    assert!(ftp.exists("a.txt"));
}

#[tokio::test]
async fn size_of_files_only() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("d/a.txt", b"hello");
    let outcome = ftp.send("SIZE d/a.txt").await;
    assert_eq!((outcome.code(), outcome.text()), (213, "5"));
    assert_eq!(ftp.code("SIZE d").await, 550);
    assert_eq!(ftp.code("SIZE nothing").await, 550);
}

#[tokio::test]
async fn mfmt_sets_and_mdtm_reads_the_time() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("a.txt", b"a");
    assert_eq!(ftp.code("MFMT 20200102030405 a.txt").await, 213);
    let outcome = ftp.send("MDTM a.txt").await;
    assert_eq!((outcome.code(), outcome.text()), (213, "20200102030405"));
    assert_eq!(ftp.code("MDTM missing").await, 550);
}

#[tokio::test]
async fn site_chmod_changes_the_mode_and_site_help_lists() {
    use std::os::unix::fs::PermissionsExt;
    let mut ftp = Fixture::logged_in().await;
    ftp.write("a.txt", b"a");
    assert_eq!(ftp.code("SITE CHMOD 600 a.txt").await, 200);
    let mode = std::fs::metadata(ftp.home().join("a.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(ftp.code("SITE HELP").await, 214);
    assert_eq!(ftp.code("SITE WHO").await, 502);
}

#[tokio::test]
async fn avbl_reports_free_bytes() {
    let mut ftp = Fixture::logged_in().await;
    let outcome = ftp.send("AVBL").await;
    assert_eq!(outcome.code(), 213);
    assert!(outcome.text().parse::<u64>().is_ok(), "{}", outcome.text());
}

#[tokio::test]
async fn hash_uses_the_selected_algorithm() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("a.txt", b"abc");
    let outcome = ftp.send("HASH a.txt").await;
    assert_eq!(
        outcome.text(),
        "SHA-256 0-2 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad /a.txt"
    );
    assert_eq!(ftp.code("OPTS HASH MD5").await, 200);
    let outcome = ftp.send("HASH a.txt").await;
    assert_eq!(
        outcome.text(),
        "MD5 0-2 900150983cd24fb0d6963f7d28e17f72 /a.txt"
    );
    assert_eq!(ftp.code("HASH /").await, 550);
}

#[tokio::test]
async fn xsha256_and_xsha1() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("a.txt", b"abc");
    let outcome = ftp.send("XSHA256 a.txt").await;
    assert_eq!(
        outcome.text(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let outcome = ftp.send("XSHA1 a.txt").await;
    assert_eq!(outcome.text(), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

#[tokio::test]
async fn xmd5_and_xcrc_with_a_range() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("a.txt", b"xabcx");
    let outcome = ftp.send("XMD5 \"a.txt\" 1 4").await;
    assert_eq!(outcome.text(), "900150983cd24fb0d6963f7d28e17f72");
    let outcome = ftp.send("XCRC a.txt").await;
    assert_eq!(outcome.code(), 213);
    assert_eq!(outcome.text().len(), 8);
}

#[tokio::test]
async fn mlst_gives_the_facts_of_one_file() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("a.txt", b"hello");
    let outcome = ftp.send("MLST a.txt").await;
    assert_eq!(outcome.code(), 250);
    assert!(outcome.text().contains("size=5;"), "{}", outcome.text());
    assert!(outcome.text().contains("type=file;"), "{}", outcome.text());
}

#[tokio::test]
async fn stat_with_a_path_lists_over_the_control_connection() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("d/a.txt", b"hello");
    let outcome = ftp.send("STAT d").await;
    assert_eq!(outcome.code(), 212);
    assert!(outcome.text().contains(" a.txt"), "{}", outcome.text());
    assert_eq!(ftp.code("STAT d/a.txt").await, 213);
}

#[tokio::test]
async fn paths_cannot_leave_the_home() {
    let mut ftp = Fixture::logged_in().await;
    std::fs::write(ftp.temp.path().join("outside.txt"), b"secret").unwrap();
    assert_eq!(ftp.code("SIZE ../outside.txt").await, 550);
    assert_eq!(ftp.code("DELE /../outside.txt").await, 550);
    assert!(ftp.temp.path().join("outside.txt").exists());
}
