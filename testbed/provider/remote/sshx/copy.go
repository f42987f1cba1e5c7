package sshx

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/pkg/sftp"
)

// modeBits are the permission bits CopyFile sets.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// CopyFile copies the local file to the remote path over SFTP, with the
// given mode (the local file's permissions when mode is 0). It skips the
// copy (copied == false) when the remote file already has the same SHA-256,
// only correcting its mode if needed. Otherwise it writes REMOTE.tmp-<random>
// in the same directory, sets the mode, renames it over REMOTE atomically and
// checks the remote SHA-256. Parent directories are created. A relative
// remote path is relative to the login directory; "~" is not expanded.
func (c *Client) CopyFile(ctx context.Context, local, remote string, mode os.FileMode) (copied bool, err error) {
	f, err := os.Open(local)
	if err != nil {
		return false, fmt.Errorf("sshx: copy to %s: %w", c.Name(), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("sshx: copy to %s: %w", c.Name(), err)
	}
	if !st.Mode().IsRegular() {
		return false, fmt.Errorf("sshx: copy to %s: %s is not a regular file", c.Name(), local)
	}
	if mode == 0 {
		mode = st.Mode()
	}
	mode &= modeBits
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, fmt.Errorf("sshx: copy to %s: hash %s: %w", c.Name(), local, err)
	}
	want := hex.EncodeToString(h.Sum(nil))

	fail := func(format string, args ...any) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		return false, fmt.Errorf("sshx: copy %s to %s:%s: %s", local, c.Name(), remote, fmt.Sprintf(format, args...))
	}

	sc, err := sftp.NewClient(c.conn, sftp.UseConcurrentWrites(true))
	if err != nil {
		return fail("start sftp: %v", err)
	}
	defer sc.Close()
	stop := context.AfterFunc(ctx, func() { sc.Close() })
	defer stop()
	c.touch()

	have, err := c.remoteSHA256(ctx, sc, remote)
	if err != nil {
		return fail("hash remote file: %v", err)
	}
	if have == want {
		rst, err := sc.Stat(remote)
		if err != nil {
			return fail("stat: %v", err)
		}
		if rst.Mode()&modeBits != mode {
			if err := sc.Chmod(remote, mode); err != nil {
				return fail("chmod %o: %v", mode, err)
			}
		}
		return false, nil
	}

	if dir := path.Dir(remote); dir != "." && dir != "/" {
		if err := sc.MkdirAll(dir); err != nil {
			return fail("create %s: %v", dir, err)
		}
	}
	tmp := remote + ".tmp-" + rand.Text()[:12]
	if err := c.upload(sc, f, tmp, mode); err != nil {
		_ = sc.Remove(tmp)
		return fail("%v", err)
	}
	if err := sc.PosixRename(tmp, remote); err != nil {
		_ = sc.Remove(tmp)
		return fail("rename %s over %s: %v", path.Base(tmp), path.Base(remote), err)
	}
	got, err := c.remoteSHA256(ctx, sc, remote)
	if err != nil {
		return fail("verify: %v", err)
	}
	if got != want {
		return fail("verify: remote SHA-256 is %s, local is %s", got, want)
	}
	return true, nil
}

// upload writes f to the new file tmp with the given mode.
func (c *Client) upload(sc *sftp.Client, f *os.File, tmp string, mode os.FileMode) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	rf, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s: %v", tmp, err)
	}
	if _, err := rf.ReadFrom(f); err != nil {
		rf.Close()
		return fmt.Errorf("write %s: %v", tmp, err)
	}
	if err := rf.Chmod(mode); err != nil {
		rf.Close()
		return fmt.Errorf("chmod %s %o: %v", tmp, mode, err)
	}
	if err := rf.Close(); err != nil {
		return fmt.Errorf("close %s: %v", tmp, err)
	}
	return nil
}

// remoteSHA256 returns the hex SHA-256 of the remote file, or "" when it
// does not exist. It asks sha256sum and falls back to reading the file over
// SFTP when sha256sum is missing or fails.
func (c *Client) remoteSHA256(ctx context.Context, sc *sftp.Client, remote string) (string, error) {
	out, err := c.Output(ctx, []string{"sha256sum", "--", remote})
	if err == nil {
		if sum, _, _ := strings.Cut(string(out), " "); len(sum) == 64 {
			if _, herr := hex.DecodeString(sum); herr == nil {
				return sum, nil
			}
		}
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	rf, err := sc.Open(remote)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer rf.Close()
	h := sha256.New()
	if _, err := rf.WriteTo(h); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
