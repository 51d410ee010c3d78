"""An independent numpy implementation of the book's API, written from the spec
(../shared/spec/book-api.md), never copied from the book: the reference the tests compare
dlcore against. One module per group (core, conv, norm, optim, nets, ...)."""
