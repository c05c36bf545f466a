/*
 * Unit tests for knownhosts_record(): what accept-new may and may not do to
 * the file it trusts.  A full file system needs a private mount namespace
 * and is in tests/t_knownhosts.sh.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "knownhosts.h"

#define E1	"[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne"
#define E2	"[127.0.0.1]:2223 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITwo"

static char	dir[PATH_MAX], kh[PATH_MAX + 32], why[512];

static void
setup(void)
{
	char	tmpl[] = "/tmp/check_knownhosts.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(dir, sizeof(dir), "%s", tmpl);
	snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
	why[0] = '\0';
}

static void
teardown(void)
{
	char	cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
put(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole file, or NULL when it does not exist. */
static char *
slurp(const char *path)
{
	static char	 buf[65536];
	FILE		*f = fopen(path, "r");
	size_t		 n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Entries of DIR: a temporary file left behind is a failure. */
static int
entries(const char *d)
{
	DIR		*dp = opendir(d);
	struct dirent	*de;
	int		 n = 0;

	ck_assert_ptr_nonnull(dp);
	while ((de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(dp);
	return n;
}

START_TEST(new_file)
{
	struct stat	st;
	mode_t		um = umask(022);

	ck_assert_int_eq(knownhosts_record(kh, E1 "\n", why, sizeof(why)), 0);
	ck_assert_str_eq(slurp(kh), E1 "\n");
	ck_assert_int_eq(stat(kh, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	/* Without its newline the entry is written the same. */
	ck_assert_int_eq(knownhosts_record(kh, E2, why, sizeof(why)), 0);
	ck_assert_str_eq(slurp(kh), E1 "\n" E2 "\n");
	ck_assert_int_eq(entries(dir), 1);
	umask(um);
}
END_TEST

START_TEST(no_trailing_newline)
{
	put(kh, "# hand-made\n" E1);	/* the last line lacks its newline */
	ck_assert_int_eq(knownhosts_record(kh, E2 "\n", why, sizeof(why)), 0);
	ck_assert_str_eq(slurp(kh), "# hand-made\n" E1 "\n" E2 "\n");
}
END_TEST

START_TEST(mode_kept)
{
	struct stat	st;

	put(kh, E1 "\n");
	ck_assert_int_eq(chmod(kh, 0640), 0);
	ck_assert_int_eq(knownhosts_record(kh, E2, why, sizeof(why)), 0);
	ck_assert_int_eq(stat(kh, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_str_eq(slurp(kh), E1 "\n" E2 "\n");
}
END_TEST

START_TEST(symlink_refused)
{
	char	victim[PATH_MAX + 32];

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	put(victim, "precious\n");
	ck_assert_int_eq(symlink(victim, kh), 0);
	errno = 0;
	ck_assert_int_eq(knownhosts_record(kh, E1, why, sizeof(why)), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_msg(strstr(why, "symbolic link") != NULL, "why: %s", why);
	ck_assert_str_eq(slurp(victim), "precious\n");
	ck_assert_int_eq(entries(dir), 2);	/* the link and its victim */
}
END_TEST

START_TEST(dangling_symlink_refused)
{
	char	target[PATH_MAX + 32];
	struct stat st;

	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	ck_assert_int_eq(symlink(target, kh), 0);
	ck_assert_int_eq(knownhosts_record(kh, E1, why, sizeof(why)), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_int_eq(lstat(target, &st), -1);
	ck_assert_int_eq(entries(dir), 1);
}
END_TEST

START_TEST(missing_directory)
{
	char	path[PATH_MAX + 64], sub[PATH_MAX + 32];
	struct stat st;

	snprintf(sub, sizeof(sub), "%s/no", dir);
	snprintf(path, sizeof(path), "%s/such/known_hosts", sub);
	ck_assert_int_eq(knownhosts_record(path, E1, why, sizeof(why)), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(strstr(why, "No such file") != NULL, "why: %s", why);
	ck_assert_int_eq(stat(sub, &st), -1);
}
END_TEST

START_TEST(not_a_regular_file)
{
	ck_assert_int_eq(mkdir(kh, 0700), 0);
	ck_assert_int_eq(knownhosts_record(kh, E1, why, sizeof(why)), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(knownhosts_record(kh, "a\nb\n", why, sizeof(why)), -1);
	ck_assert_int_eq(knownhosts_record(kh, "", why, sizeof(why)), -1);
}
END_TEST

/* A read-only directory: refused, the old file intact, nothing left over. */
START_TEST(unwritable_directory)
{
	if (geteuid() == 0)
		return;		/* root writes anyway; t_knownhosts.sh fills a disk */
	put(kh, E1 "\n");
	ck_assert_int_eq(chmod(dir, 0500), 0);
	ck_assert_int_eq(knownhosts_record(kh, E2, why, sizeof(why)), -1);
	ck_assert_int_eq(errno, EACCES);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_str_eq(slurp(kh), E1 "\n");
	ck_assert_int_eq(entries(dir), 1);
}
END_TEST

/* Writers in several processes at once: every entry survives the renames. */
#define WRITERS	6
#define EACH	25
START_TEST(concurrent_writers)
{
	char	 line[128], *text, *p;
	pid_t	 pid[WRITERS];
	int	 i, j, st, n;

	for (i = 0; i < WRITERS; i++) {
		ck_assert_int_ne(pid[i] = fork(), -1);
		if (pid[i] == 0) {
			for (j = 0; j < EACH; j++) {
				snprintf(line, sizeof(line), "[h%d]:%d ssh-ed25519 "
				    "AAAA%d", i, j, j);
				if (knownhosts_record(kh, line, why,
				    sizeof(why)) == -1)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (i = 0; i < WRITERS; i++) {
		ck_assert_int_eq(waitpid(pid[i], &st, 0), pid[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	ck_assert_ptr_nonnull(text = slurp(kh));
	for (n = 0, p = text; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	ck_assert_int_eq(n, WRITERS * EACH);
	for (i = 0; i < WRITERS; i++)
		for (j = 0; j < EACH; j++) {
			snprintf(line, sizeof(line), "[h%d]:%d ssh-ed25519 "
			    "AAAA%d\n", i, j, j);
			ck_assert_msg(strstr(text, line) != NULL, "lost %s", line);
		}
	ck_assert_int_eq(entries(dir), 1);
}
END_TEST

static Suite *
knownhosts_suite(void)
{
	Suite	*s = suite_create("knownhosts");
	TCase	*tc = tcase_create("record");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, new_file);
	tcase_add_test(tc, no_trailing_newline);
	tcase_add_test(tc, mode_kept);
	tcase_add_test(tc, symlink_refused);
	tcase_add_test(tc, dangling_symlink_refused);
	tcase_add_test(tc, missing_directory);
	tcase_add_test(tc, not_a_regular_file);
	tcase_add_test(tc, unwritable_directory);
	tcase_add_test(tc, concurrent_writers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(knownhosts_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
