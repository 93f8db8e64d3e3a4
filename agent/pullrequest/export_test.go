package pullrequest

import "testing"

// SetGiteaPageSize makes Find page through n pull requests at a time until
// the test ends, so paging is exercised without creating 50 of them.
func SetGiteaPageSize(t testing.TB, n int) {
	old := giteaPageSize
	giteaPageSize = n
	t.Cleanup(func() { giteaPageSize = old })
}
