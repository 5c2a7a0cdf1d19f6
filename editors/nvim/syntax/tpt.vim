" Syntax of tpt (see docs/language.md). The scopes follow the TextMate
" grammar of editors/vscode.
if exists('b:current_syntax')
  finish
endif

syntax keyword tptItem import as param let fn resource schema type environment extends moved component output
syntax keyword tptControl if then else for in
syntax keyword tptConstant true false null
syntax keyword tptType string int float bool duration secret
syntax match tptStd /\<std\>/
syntax match tptAnnotation /@\h\w*/
syntax match tptNumber /\<\d[0-9_]*\(\.\d[0-9_]*\)\?\([eE][+-]\?\d\+\)\?\>/
syntax match tptDuration /\<\(\d\+\(ms\|s\|m\|h\|d\)\)\+\>/
syntax match tptTypeName /\<\u\w*\>/
syntax match tptOperator /??\|||\|&&\|==\|!=\|<=\|>=\|=>\|[-+*\/%<>!=]/

syntax region tptInterpolation matchgroup=tptInterpolationDelim start=/\${/ end=/}/ contained contains=TOP
syntax match tptEscape /\\\(["\\nrt$]\|u{\x\+}\)/ contained
syntax region tptString start=/"/ skip=/\\"/ end=/"/ oneline contains=tptInterpolation,tptEscape
syntax region tptTextBlock start=/"""/ end=/"""/ contains=tptInterpolation

syntax keyword tptTodo TODO FIXME XXX NOTE contained
syntax match tptDocComment "///.*$" contains=tptTodo
syntax match tptComment "//\([^/].*\)\?$" contains=tptTodo
syntax match tptComment "////.*$" contains=tptTodo
syntax region tptBlockComment start="/\*" end="\*/" contains=tptBlockComment,tptTodo

highlight default link tptItem Keyword
highlight default link tptControl Conditional
highlight default link tptConstant Constant
highlight default link tptType Type
highlight default link tptTypeName Type
highlight default link tptStd Include
highlight default link tptAnnotation PreProc
highlight default link tptNumber Number
highlight default link tptDuration Number
highlight default link tptOperator Operator
highlight default link tptString String
highlight default link tptTextBlock String
highlight default link tptEscape SpecialChar
highlight default link tptInterpolationDelim Delimiter
highlight default link tptComment Comment
highlight default link tptBlockComment Comment
highlight default link tptDocComment SpecialComment
highlight default link tptTodo Todo

let b:current_syntax = 'tpt'
