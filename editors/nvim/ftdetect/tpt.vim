" tpt configuration files.
autocmd BufRead,BufNewFile *.tpt setfiletype tpt
