package artifact

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// writeArchive writes the folder top (its base name becomes the archive's
// top folder) as a gzip-compressed tar: entries in lexical order, folders
// before what they hold, mode 0755 for folders and 0644 for files, owner
// 0:0 with no user or group names, and every time set to mtime, so that the
// same folder always gives the same bytes.
func writeArchive(w io.Writer, top string, mtime time.Time) error {
	mtime = mtime.UTC().Truncate(time.Second)
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	base := filepath.Base(top)
	err = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(top, p)
		if err != nil {
			return err
		}
		name := path.Join(base, filepath.ToSlash(rel))
		hdr := &tar.Header{Name: name, ModTime: mtime, Format: tar.FormatPAX}
		switch {
		case d.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
			return tw.WriteHeader(hdr)
		case d.Type().IsRegular():
			st, err := d.Info()
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, st.Size()
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			n, err := io.Copy(tw, f)
			if err == nil && n != st.Size() {
				err = fmt.Errorf("%s changed size while it was packed", p)
			}
			return err
		}
		return fmt.Errorf("%s: not a regular file or folder (%s); artifacts hold only files", p, d.Type())
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// maxMember bounds one unpacked file, and maxTotal the whole archive, so
// that a hostile archive cannot fill the disk.
const (
	maxMember = 16 << 30
	maxTotal  = 64 << 30
)

// Unpack extracts an artifact archive into dir and returns the path of its
// top folder. It accepts only folders and regular files under one top
// folder, with relative paths that stay inside it; anything else (links,
// devices, "..", absolute paths, a second top folder) is an error.
func Unpack(archive, dir string) (string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("%s is not a tbctl artifact: not gzip-compressed: %w", archive, err)
	}
	tr := tar.NewReader(zr)
	top := ""
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s: broken archive: %w", archive, err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		clean := path.Clean(name)
		if name == "" || path.IsAbs(name) || clean != name || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(name, "\\") {
			return "", fmt.Errorf("%s: unsafe path %q in the archive", archive, hdr.Name)
		}
		first, _, _ := strings.Cut(clean, "/")
		if top == "" {
			top = first
		} else if first != top {
			return "", fmt.Errorf("%s: more than one top folder (%s and %s); an artifact has one", archive, top, first)
		}
		target := filepath.Join(dir, filepath.FromSlash(clean))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return "", err
			}
		case tar.TypeReg:
			if hdr.Size > maxMember || total+hdr.Size > maxTotal {
				return "", fmt.Errorf("%s: %s is too large to unpack (%d bytes)", archive, clean, hdr.Size)
			}
			total += hdr.Size
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return "", err
			}
			out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				if errors.Is(err, fs.ErrExist) {
					return "", fmt.Errorf("%s: %s is in the archive twice", archive, clean)
				}
				return "", err
			}
			_, err = io.Copy(out, io.LimitReader(tr, hdr.Size))
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", fmt.Errorf("%s: %s: %w", archive, clean, err)
			}
		default:
			return "", fmt.Errorf("%s: %s is not a regular file or folder (tar type %q); artifacts hold only files", archive, clean, hdr.Typeflag)
		}
	}
	if top == "" {
		return "", fmt.Errorf("%s: the archive is empty", archive)
	}
	return filepath.Join(dir, top), nil
}
