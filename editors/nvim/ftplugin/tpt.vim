" tpt: two-space indentation, // comments (the layout `tpt fmt` writes).
if exists('b:did_ftplugin')
  finish
endif
let b:did_ftplugin = 1

setlocal expandtab shiftwidth=2 softtabstop=2 tabstop=2
setlocal commentstring=//\ %s comments=:///,://
setlocal iskeyword=@,48-57,_

let b:undo_ftplugin = 'setlocal expandtab< shiftwidth< softtabstop< tabstop< commentstring< comments< iskeyword<'
