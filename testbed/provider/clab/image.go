package clab

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tbctl/tbctl/internal/filehash"
	"github.com/tbctl/tbctl/testbed/errkind"
)

// ImageRepo is the repository of tbctl's node image: the running tbctl
// binary alone, FROM scratch, tagged by the binary's SHA-256, so that a
// lab's containers always hold the tbctl that deployed them.
const ImageRepo = "tbctl-node"

// dockerfile makes the node image. The container's first process is
// `tbctl node init`, which reaps children and waits to be stopped.
const dockerfile = `FROM scratch
COPY tbctl /usr/bin/tbctl
ENTRYPOINT ["/usr/bin/tbctl", "node", "init"]
`

// NodeImage returns the node image of this tbctl and its image ID,
// building it when the Docker engine does not have it yet (no registry is
// needed).
func NodeImage(ctx context.Context) (ref, id string, err error) {
	self, err := os.Executable()
	if err != nil {
		return "", "", err
	}
	sum, err := filehash.SHA256(self)
	if err != nil {
		return "", "", err
	}
	ref = ImageRepo + ":" + sum[:12]
	if id, err := imageID(ctx, ref); err == nil {
		return ref, id, nil
	}
	if err := static(self); err != nil {
		return "", "", err
	}
	dir, err := os.MkdirTemp("", "tbctl-node-image-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(dir)
	if err := copyFile(self, filepath.Join(dir, "tbctl")); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return "", "", err
	}
	if _, err := run(ctx, "docker", "build", "--quiet", "--tag", ref, "--tag", ImageRepo+":latest", dir); err != nil {
		return "", "", fmt.Errorf("build the node image %s: %w", ref, err)
	}
	pruneNodeImages(ctx, ref)
	id, err = imageID(ctx, ref)
	return ref, id, err
}

func imageID(ctx context.Context, ref string) (string, error) {
	out, err := run(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", ref)
	return strings.TrimSpace(string(out)), err
}

// static refuses a dynamically linked tbctl, which a FROM scratch image
// cannot run.
func static(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errkind.Env("build tbctl with make build (CGO_ENABLED=0)", "%s is linked dynamically, so tbctl's node image cannot hold it", path)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// pruneNodeImages removes the node images of earlier tbctl builds that no
// container uses (Docker refuses to remove those in use), so rebuilding
// tbctl does not fill the disk.
func pruneNodeImages(ctx context.Context, keep string) {
	out, err := run(ctx, "docker", "image", "ls", ImageRepo, "--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		return
	}
	for _, ref := range strings.Fields(string(out)) {
		if ref != keep && ref != ImageRepo+":latest" {
			run(ctx, "docker", "image", "rm", ref)
		}
	}
}
