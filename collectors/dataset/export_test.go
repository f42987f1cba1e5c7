package dataset

// SetCommitHook makes commit call f after each step; tests use it to make
// an add fail part way through its commit.
func SetCommitHook(f func(step string) error) (restore func()) {
	old := commitHook
	commitHook = f
	return func() { commitHook = old }
}
