-- The tpt language server for Neovim's built-in LSP client (Neovim 0.7 and later).
--
--   require('tpt').setup()                          -- `tpt` on PATH
--   require('tpt').setup({ cmd = { '/path/to/tpt', 'lsp' } })
--
-- Every buffer of filetype `tpt` is attached to one server per workspace: the
-- nearest directory above the file holding `.git` (so that one server sees
-- every configuration of the repository: references and renames reach them
-- all, and each is checked), else the nearest directory holding `main.tpt`,
-- else the file's directory. A file of the standard library (opened by go to
-- definition) is read-only and attached to the server already running.
local M = {}

M.defaults = {
  cmd = { 'tpt', 'lsp' },
  -- Passed on to the client (e.g. on_attach, capabilities).
  on_attach = nil,
  capabilities = nil,
}

-- The workspace directory of a file: the nearest ancestor with .git, else the
-- nearest with main.tpt, else the file's own directory.
function M.root_dir(path)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  local start = dir
  local config = nil
  while dir and dir ~= '' do
    if vim.fn.isdirectory(dir .. '/.git') == 1 or vim.fn.filereadable(dir .. '/.git') == 1 then
      return dir
    end
    if not config and vim.fn.filereadable(dir .. '/main.tpt') == 1 then
      config = dir
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      break
    end
    dir = parent
  end
  return config or start
end

local clients = {} -- root directory → client id (Neovim 0.7 has no vim.lsp.start)

-- Whether a path is a copy of the standard library that a server wrote (a
-- definition in `std/aws.tpt` opens it).
function M.is_stdlib(path)
  return path:match('/tpt%-stdlib%-%x+/std/[^/]+%.tpt$') ~= nil
end

function M.attach(buf, opts)
  local name = vim.api.nvim_buf_get_name(buf)
  if name:match('^tpt%-std://') then
    -- A virtual document of the standard library: M.read_stdlib attached it.
    return nil
  end
  if M.is_stdlib(name) then
    -- Read-only, and served by the server already running (the one whose
    -- definition opened it), not a second one rooted in the temporary directory.
    vim.bo[buf].readonly = true
    vim.bo[buf].modifiable = false
    local alt = vim.fn.bufnr('#')
    local running = {}
    if alt > 0 then
      for _, c in pairs(vim.lsp.buf_get_clients(alt)) do
        if c.name == 'tpt' then table.insert(running, c) end
      end
    end
    if #running == 0 then
      for _, c in pairs(vim.lsp.get_active_clients()) do
        if c.name == 'tpt' then table.insert(running, c) end
      end
    end
    if #running > 0 then
      vim.lsp.buf_attach_client(buf, running[1].id)
      return running[1].id
    end
  end
  local root = M.root_dir(name ~= '' and name or vim.fn.getcwd() .. '/untitled.tpt')
  local config = {
    name = 'tpt',
    cmd = opts.cmd,
    root_dir = root,
    -- The standard library as read-only `tpt-std://` buffers (see M.read_stdlib).
    init_options = { stdlibDocuments = true },
    on_attach = opts.on_attach,
    capabilities = opts.capabilities,
  }
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = buf })
  end
  local id = clients[root]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client(config)
    clients[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(buf, id)
  end
  return id
end

-- Fills a `tpt-std:///std/NAME.tpt` buffer (a module of the standard library,
-- opened by go to definition) with its text from the running server: read-only,
-- filetype tpt, attached to that server.
function M.read_stdlib(buf, uri)
  local client
  for _, c in pairs(vim.lsp.get_active_clients()) do
    if c.name == 'tpt' then client = c end
  end
  if not client then return end
  local r = client.request_sync('tpt/stdlibDocument', { uri = uri }, 10000, buf)
  local text = r and r.result and r.result.text
  if not text then return end
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].modifiable = true
  local lines = vim.split(text, '\n', { plain = true })
  if lines[#lines] == '' then table.remove(lines) end
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].readonly = true
  vim.bo[buf].filetype = 'tpt'
  vim.lsp.buf_attach_client(buf, client.id)
end

function M.setup(opts)
  opts = vim.tbl_deep_extend('force', M.defaults, opts or {})
  local group = vim.api.nvim_create_augroup('tpt_lsp', { clear = true })
  vim.api.nvim_create_autocmd('BufReadCmd', {
    group = group,
    pattern = 'tpt-std://*',
    callback = function(args)
      M.read_stdlib(args.buf, args.match)
    end,
  })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = 'tpt',
    callback = function(args)
      M.attach(args.buf, opts)
    end,
  })
  -- Buffers already open when setup runs.
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].filetype == 'tpt' then
      M.attach(buf, opts)
    end
  end
end

return M
