module github.com/portpath/portpath

go 1.26
