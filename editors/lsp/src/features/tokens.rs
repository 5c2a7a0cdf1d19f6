//! Semantic tokens: every name of a file coloured by what it names — a
//! resource, a param, a `let`, a function (a builtin as the default library),
//! a schema, a type alias, a field, an environment, an import — with its
//! declaration marked. Keywords, strings, numbers and comments are the
//! grammar's (TextMate in VS Code, the syntax file in Neovim).

use lsp_types::{
    Range, SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokens, SemanticTokensLegend,
    SemanticTokensParams, SemanticTokensRangeParams, Url,
};
use serde_json::Value;

use crate::index::{DeclKind, Target};
use crate::line_index::{overlaps, LineIndex};
use crate::server::{Answer, Server};

/// The token types, in the order of their numbers in the legend.
const TYPES: [SemanticTokenType; 8] = [
    SemanticTokenType::VARIABLE,    // 0: a resource, a `let` (readonly), a local
    SemanticTokenType::PARAMETER,   // 1: a param
    SemanticTokenType::FUNCTION,    // 2
    SemanticTokenType::CLASS,       // 3: a schema
    SemanticTokenType::TYPE,        // 4: an alias
    SemanticTokenType::PROPERTY,    // 5: a field, an output
    SemanticTokenType::NAMESPACE,   // 6: an import
    SemanticTokenType::ENUM_MEMBER, // 7: an environment
];

const DECLARATION: u32 = 1 << 0;
const READONLY: u32 = 1 << 1;
const DEFAULT_LIBRARY: u32 = 1 << 2;

pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: vec![
            SemanticTokenModifier::DECLARATION,
            SemanticTokenModifier::READONLY,
            SemanticTokenModifier::DEFAULT_LIBRARY,
        ],
    }
}

pub fn full(server: &mut Server, p: SemanticTokensParams) -> Answer {
    tokens(server, &p.text_document.uri, None)
}

pub fn range(server: &mut Server, p: SemanticTokensRangeParams) -> Answer {
    tokens(server, &p.text_document.uri, Some(p.range))
}

fn tokens(server: &mut Server, uri: &Url, only: Option<Range>) -> Answer {
    let Some((a, file)) = server.file(uri) else {
        return Ok(Value::Null);
    };
    let Some(source) = a.program.sources.get(file) else {
        return Ok(Value::Null);
    };
    let index = a.index();
    let lines = LineIndex::of(source);
    let mut data = Vec::new();
    let (mut line, mut col) = (0, 0);
    for o in index.in_file(file) {
        let (kind, mut modifiers) = match &o.target {
            Target::Builtin(_) => (2, DEFAULT_LIBRARY),
            Target::Decl(span) => {
                let Some(decl) = index.decls.get(span) else {
                    continue;
                };
                let std = a
                    .program
                    .sources
                    .get(span.file)
                    .is_some_and(|f| crate::stdlib_files::is_stdlib_name(&f.name));
                let library = if std { DEFAULT_LIBRARY } else { 0 };
                match decl {
                    DeclKind::Resource(..) | DeclKind::Local(..) => (0, library),
                    DeclKind::Param(..) => (1, library),
                    DeclKind::Let(..) => (0, READONLY | library),
                    DeclKind::Fn(..) => (2, library),
                    DeclKind::Schema(_) => (3, library),
                    DeclKind::Alias(..) => (4, library),
                    DeclKind::Field(..) | DeclKind::Output(..) => (5, library),
                    DeclKind::Import(..) => (6, library),
                    DeclKind::Environment(_) => (7, library),
                }
            }
        };
        if o.is_decl {
            modifiers |= DECLARATION;
        }
        let r = lines.range(o.span.start as usize, o.span.end as usize);
        // Names are on one line; a token may not span lines.
        if r.start.line != r.end.line || r.end.character <= r.start.character {
            continue;
        }
        if only.is_some_and(|q| !overlaps(&r, &q)) {
            continue;
        }
        let delta_line = r.start.line - line;
        let delta_start = if delta_line == 0 {
            r.start.character - col
        } else {
            r.start.character
        };
        data.push(SemanticToken {
            delta_line,
            delta_start,
            length: r.end.character - r.start.character,
            token_type: kind,
            token_modifiers_bitset: modifiers,
        });
        (line, col) = (r.start.line, r.start.character);
    }
    let tokens = SemanticTokens {
        result_id: None,
        data,
    };
    Ok(serde_json::to_value(tokens).unwrap_or(Value::Null))
}
