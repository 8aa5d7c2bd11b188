-- tea-lsp helpers for Neovim: run the workflow of a buffer and show the result.
-- Works with 0.11 (vim.lsp.config/enable) and 0.10 (vim.lsp.start): the client is found by the
-- command it advertises, whatever its name.
local M = {}

local RUN = 'tea.runWorkflow'
local has_011 = vim.fn.has('nvim-0.11') == 1

---@type table<integer, {client: vim.lsp.Client, id: integer, source: integer}> runs in flight
local running = {}
local token_seq = 0

local function notify(msg, level)
  vim.notify('tea-lsp: ' .. msg, level or vim.log.levels.INFO)
end

local function request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function cancel_request(client, id)
  if has_011 then
    return client:cancel_request(id)
  end
  return client.cancel_request(id)
end

--- The client attached to `bufnr` that can run workflows.
---@param bufnr integer
---@return vim.lsp.Client?
function M.client(bufnr)
  for _, client in ipairs(vim.lsp.get_clients({ bufnr = bufnr })) do
    local caps = client.server_capabilities or {}
    local provider = caps.executeCommandProvider
    local commands = type(provider) == 'table' and provider.commands or {}
    if vim.tbl_contains(commands, RUN) then
      return client
    end
  end
  return nil
end

-- ---- JSON rendering (indented, keys sorted; the run result's own keys first)

local function is_object(t)
  if getmetatable(t) == vim._empty_dict_mt then
    return true
  end
  return next(t) ~= nil and not vim.islist(t)
end

local function number_text(n)
  if n ~= n or n == math.huge or n == -math.huge then
    return 'null'
  end
  if n == math.floor(n) and math.abs(n) < 2 ^ 53 then
    return string.format('%d', n)
  end
  local s = string.format('%.15g', n)
  if tonumber(s) ~= n then
    s = string.format('%.17g', n)
  end
  return s
end

local RESULT_KEYS = { 'ok', 'state', 'error', 'branches', 'timing_ms' }

local function encode(value, indent, lines, prefix, key_order)
  local pad = string.rep('  ', indent)
  local kind = type(value)
  if value == nil or value == vim.NIL then
    lines[#lines + 1] = pad .. prefix .. 'null'
  elseif kind == 'boolean' then
    lines[#lines + 1] = pad .. prefix .. tostring(value)
  elseif kind == 'number' then
    lines[#lines + 1] = pad .. prefix .. number_text(value)
  elseif kind == 'string' then
    lines[#lines + 1] = pad .. prefix .. vim.json.encode(value)
  elseif kind == 'table' and is_object(value) then
    local keys, seen = {}, {}
    for _, k in ipairs(key_order or {}) do
      keys[#keys + 1], seen[k] = k, true
    end
    local rest = {}
    for k in pairs(value) do
      if not seen[k] then
        rest[#rest + 1] = tostring(k)
      end
    end
    table.sort(rest)
    vim.list_extend(keys, rest)
    if #keys == 0 then
      lines[#lines + 1] = pad .. prefix .. '{}'
      return
    end
    lines[#lines + 1] = pad .. prefix .. '{'
    for i, k in ipairs(keys) do
      local v = value[k]
      if v == nil and tonumber(k) then
        v = value[tonumber(k)]
      end
      encode(v, indent + 1, lines, vim.json.encode(k) .. ': ')
      if i < #keys then
        lines[#lines] = lines[#lines] .. ','
      end
    end
    lines[#lines + 1] = pad .. '}'
  elseif kind == 'table' then
    if #value == 0 then
      lines[#lines + 1] = pad .. prefix .. '[]'
      return
    end
    lines[#lines + 1] = pad .. prefix .. '['
    for i, v in ipairs(value) do
      encode(v, indent + 1, lines, '')
      if i < #value then
        lines[#lines] = lines[#lines] .. ','
      end
    end
    lines[#lines + 1] = pad .. ']'
  else
    lines[#lines + 1] = pad .. prefix .. vim.json.encode(tostring(value))
  end
end

--- A run result as indented JSON lines. `null` members of the result (dropped by the decoder)
--- are written back as `null`.
---@param result table
---@return string[]
function M.format_result(result)
  local lines = {}
  encode(result, 0, lines, '', type(result) == 'table' and is_object(result) and RESULT_KEYS or nil)
  return lines
end

-- ---- the result window

--- The scratch buffer `scheme://<source file>` (created once, then reused).
---@param source integer
---@param scheme string
---@param filetype string
---@return integer
local function scratch_buffer(source, scheme, filetype)
  local name = scheme .. '://' .. vim.api.nvim_buf_get_name(source)
  local buf = vim.fn.bufnr(name)
  if buf == -1 or not vim.api.nvim_buf_is_valid(buf) then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, name)
    vim.bo[buf].buftype = 'nofile'
    vim.bo[buf].bufhidden = 'hide'
    vim.bo[buf].swapfile = false
    vim.bo[buf].filetype = filetype
  end
  return buf
end

--- Shows `result` in a scratch split under the source window (reused across runs).
---@param source integer
---@param result table
---@return integer bufnr of the result buffer
function M.show_result(source, result)
  local buf = scratch_buffer(source, 'tea-run', 'json')
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, M.format_result(result))
  vim.bo[buf].modifiable = false
  if vim.fn.bufwinid(buf) == -1 then
    local height = math.min(vim.api.nvim_buf_line_count(buf) + 1, math.floor(vim.o.lines / 3))
    vim.api.nvim_open_win(buf, false, { split = 'below', win = -1, height = math.max(height, 3) })
  end
  return buf
end

-- ---- running

--- Runs the workflow of `bufnr` (its current text, saved or not).
---@param bufnr integer
---@param input table? input state (a JSON object)
function M.run(bufnr, input)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = M.client(bufnr)
  if not client then
    notify('no tea-lsp server is attached to this buffer', vim.log.levels.ERROR)
    return
  end
  local uri = vim.uri_from_bufnr(bufnr)
  token_seq = token_seq + 1
  local token = ('tea-run-%d-%d'):format(vim.fn.getpid(), token_seq)
  local params = {
    command = RUN,
    arguments = input ~= nil and { uri, input } or { uri },
    workDoneToken = token,
  }
  local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':t')
  local progress = vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      local p = ev.data and ev.data.params
      if p and p.token == token and p.value and p.value.message then
        vim.api.nvim_echo({ { 'tea-lsp: ' .. p.value.message } }, false, {})
      end
    end,
  })
  local ok, id
  ok, id = request(client, 'workspace/executeCommand', params, function(err, result)
    running[id] = nil
    pcall(vim.api.nvim_del_autocmd, progress)
    if err then
      notify(('run of %s: %s'):format(name, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    if type(result) ~= 'table' then
      notify(('run of %s: no result'):format(name), vim.log.levels.ERROR)
      return
    end
    local out = M.show_result(bufnr, result)
    if result.ok then
      local ms = type(result.timing_ms) == 'number' and (' in %d ms'):format(result.timing_ms) or ''
      notify(('%s: ok%s'):format(name, ms))
    else
      notify(('%s: failed: %s'):format(name, tostring(result.error)), vim.log.levels.WARN)
    end
    vim.api.nvim_exec_autocmds('User', {
      pattern = 'TeaRunDone',
      modeline = false,
      data = { source = bufnr, result_buf = out, result = result },
    })
  end, bufnr)
  if not ok or not id then
    pcall(vim.api.nvim_del_autocmd, progress)
    notify('the server is not running', vim.log.levels.ERROR)
    return
  end
  running[id] = { client = client, id = id, source = bufnr }
  notify(('running %s…'):format(name))
end

--- Parses the optional argument of :TeaRun. Returns the input table or nil and an error.
---@param text string
---@return table?, string?
function M.parse_input(text)
  if text == nil or vim.trim(text) == '' then
    return nil, nil
  end
  local ok, value = pcall(vim.json.decode, text)
  if not ok then
    return nil, 'the input is not valid JSON: ' .. tostring(value)
  end
  local not_object = 'the input must be a JSON object like {"count": 1}'
  if type(value) ~= 'table' then
    return nil, not_object
  end
  if getmetatable(value) ~= vim._empty_dict_mt and (next(value) == nil or vim.islist(value)) then
    return nil, not_object -- an array
  end
  return value, nil
end

--- :TeaRun [json]
---@param args string
function M.run_command(args)
  local input, err = M.parse_input(args)
  if err then
    notify(err, vim.log.levels.ERROR)
    return
  end
  M.run(0, input)
end

--- Client-side handler of the `tea.runWorkflow` command (code lens): arguments `[uri, input?]`.
function M.run_lsp_command(command, ctx)
  local args = command.arguments or {}
  local bufnr = ctx and ctx.bufnr or 0
  if type(args[1]) == 'string' then
    bufnr = vim.uri_to_bufnr(args[1])
  end
  local input = args[2]
  if input == vim.NIL then
    input = nil
  end
  M.run(bufnr, input)
end

-- ---- a missing server

local warned_missing = false

--- True when `bufnr` is a TEA workflow: a `*.tea.yaml`/`*.tea.yml` name or a top-level `nodes:`.
---@param bufnr integer
---@return boolean
function M.is_workflow(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name:match('%.tea%.ya?ml$') then
    return true
  end
  for _, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, 200, false)) do
    if line:match([=[^["']?nodes["']?%s*:]=]) then
      return true
    end
  end
  return false
end

--- The command the enabled `tea_lsp` config starts, or nil (not enabled, or a function).
---@return string[]?
local function configured_cmd()
  if not (has_011 and vim.lsp.is_enabled and vim.lsp.is_enabled('tea_lsp')) then
    return nil
  end
  local ok, config = pcall(function()
    return vim.lsp.config.tea_lsp
  end)
  if not ok or type(config) ~= 'table' or type(config.cmd) ~= 'table' then
    return nil
  end
  return config.cmd
end

--- Warns once (vim.notify, WARN) when a workflow is opened and the server command of the
--- enabled `tea_lsp` config is not an executable: Neovim itself would only write to its LSP log.
---@param bufnr integer
---@return boolean warned
function M.check_server(bufnr)
  if warned_missing or not M.is_workflow(bufnr) then
    return false
  end
  local cmd = configured_cmd()
  if cmd == nil or cmd[1] == nil or vim.fn.executable(cmd[1]) == 1 then
    return false
  end
  warned_missing = true
  notify(
    ("the server command %q was not found, so TEA workflows get no diagnostics. Install tea-lsp "
      .. "(from a clone: pip install /path/to/tea-lsp) where Neovim finds it on PATH, or set "
      .. "vim.lsp.config('tea_lsp', { cmd = { '/path/to/venv/bin/tea-lsp', 'serve' } })"):format(
      cmd[1]
    ),
    vim.log.levels.WARN
  )
  return true
end

--- Cancels the runs started from the current buffer.
function M.cancel()
  local bufnr = vim.api.nvim_get_current_buf()
  local n = 0
  for id, run in pairs(running) do
    if run.source == bufnr then
      cancel_request(run.client, id)
      running[id] = nil
      n = n + 1
    end
  end
  notify(n > 0 and ('cancelled %d run(s)'):format(n) or 'nothing is running for this buffer')
end

--- Stops the tea-lsp clients and starts them again for the open buffers.
function M.restart()
  if has_011 and vim.lsp.is_enabled('tea_lsp') then
    vim.lsp.enable('tea_lsp', false) -- stops the clients
    vim.defer_fn(function()
      vim.lsp.enable('tea_lsp') -- re-attaches every open YAML buffer
      notify('restarted')
    end, 500)
    return
  end
  local client = M.client(0)
  if not client then
    notify('no tea-lsp server is attached to this buffer', vim.log.levels.ERROR)
    return
  end
  if has_011 then
    client:stop()
  else
    client.stop()
  end
  notify('stopped; reopen the workflow (:edit) to start the server again')
end

-- ---- the graph (`tea/graph`): an SVG in the system viewer, or the Mermaid text in a split

local GRAPH = 'tea/graph'

--- The Graphviz `dot` program to use ($TEA_LSP_DOT, else `dot`), or nil when not installed.
---@return string?
function M.dot_program()
  local dot = vim.env.TEA_LSP_DOT
  if dot == nil or dot == '' then
    dot = 'dot'
  end
  return vim.fn.executable(dot) == 1 and dot or nil
end

--- Shows Mermaid text in a scratch split beside the source window (reused).
---@param source integer
---@param mermaid string
---@return integer bufnr of the scratch buffer
function M.show_mermaid(source, mermaid)
  local buf = scratch_buffer(source, 'tea-graph', 'mermaid')
  vim.bo[buf].modifiable = true
  local lines = vim.split(mermaid, '\n', { plain = true, trimempty = true })
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  if vim.fn.bufwinid(buf) == -1 then
    vim.api.nvim_open_win(buf, false, { split = 'right', win = -1 })
  end
  return buf
end

--- Lays `dot_text` out with Graphviz into an SVG file and opens it with the system viewer.
---@param dot string the dot program
---@param dot_text string
---@param name string the workflow file's name (for the SVG's name)
function M.open_svg(dot, dot_text, name)
  local svg = vim.fn.tempname() .. '-' .. name:gsub('%.ya?ml$', '') .. '.svg'
  vim.system({ dot, '-Tsvg', '-o', svg }, { stdin = dot_text, text = true }, function(res)
    vim.schedule(function()
      if res.code ~= 0 then
        local why = vim.trim(res.stderr or '')
        notify(('Graphviz failed (exit %d): %s'):format(res.code, why), vim.log.levels.ERROR)
        return
      end
      M.last_svg = svg
      local _, err = vim.ui.open(svg)
      if err then
        notify(('wrote %s but cannot open it: %s'):format(svg, err), vim.log.levels.WARN)
      else
        notify('graph: ' .. svg)
      end
    end)
  end)
end

--- Asks the server for the graph of `bufnr` and shows it: with Graphviz, as an SVG opened in
--- the system viewer; without (or with `format` 'mermaid'), as Mermaid text in a split.
---@param bufnr integer
---@param format string? 'svg' | 'mermaid' | nil (svg when Graphviz is installed)
function M.graph(bufnr, format)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if format ~= nil and format ~= '' and format ~= 'svg' and format ~= 'mermaid' then
    local msg = ("unknown graph format '%s': expected 'svg' or 'mermaid'"):format(format)
    notify(msg, vim.log.levels.ERROR)
    return
  end
  local client = M.client(bufnr)
  if not client then
    notify('no tea-lsp server is attached to this buffer', vim.log.levels.ERROR)
    return
  end
  local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':t')
  local params = { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }
  request(client, GRAPH, params, function(err, result)
    if err then
      local why = err.message or vim.inspect(err)
      notify(('graph of %s: %s'):format(name, why), vim.log.levels.ERROR)
      return
    end
    if type(result) ~= 'table' or type(result.dot) ~= 'string' then
      notify(name .. ' is not a workflow: no graph', vim.log.levels.WARN)
      return
    end
    local dot = format ~= 'mermaid' and M.dot_program() or nil
    if dot then
      M.open_svg(dot, result.dot, name)
      return
    end
    M.show_mermaid(bufnr, result.mermaid)
    if format ~= 'mermaid' then
      notify(
        'Graphviz (dot) is not installed: showing the Mermaid text '
          .. '(install the graphviz package for an SVG)',
        vim.log.levels.WARN
      )
    end
  end, bufnr)
end

return M
