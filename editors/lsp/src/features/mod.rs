//! The requests the server answers, one module per feature.

pub mod completion;
pub mod edits;
pub mod hover;
pub mod inlay;
pub mod lens;
pub mod navigate;
pub mod pull;
pub mod signature;
pub mod symbols;
pub mod tokens;

use std::rc::Rc;

use lsp_types::TextDocumentPositionParams;
use tpt_lang::source::FileId;

use crate::line_index::LineIndex;
use crate::server::Server;
use crate::workspace::Analysis;

/// Where a request points: the analysis of its document, the file, the byte offset.
pub struct At {
    pub analysis: Rc<Analysis>,
    pub file: FileId,
    pub offset: usize,
}

impl At {
    /// `None` for a document no configuration loads.
    pub fn of(server: &mut Server, p: &TextDocumentPositionParams) -> Option<At> {
        let (analysis, file) = server.file(&p.text_document.uri)?;
        let offset = LineIndex::of(analysis.program.sources.get(file)?).offset(p.position);
        Some(At {
            analysis,
            file,
            offset,
        })
    }

    pub fn text(&self) -> &str {
        self.analysis
            .program
            .sources
            .get(self.file)
            .map_or("", |f| &f.text)
    }
}
