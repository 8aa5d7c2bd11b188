-- tea-lsp for Neovim 0.11+: put this directory on 'runtimepath' (or copy this file into
-- ~/.config/nvim/lsp/) and call `vim.lsp.enable('tea_lsp')`.
--
-- Every YAML buffer is offered to the server; it answers only for workflows (files matching
-- `settings.tea.files`, or with a top-level `nodes:` key) and leaves other YAML alone.
--
-- Override anything with vim.lsp.config, e.g.
--   vim.lsp.config('tea_lsp', { cmd = { '/path/to/venv/bin/tea-lsp', 'serve' } })
--   vim.lsp.config('tea_lsp', { settings = { tea = { lua = { timeout = 5 } } } })

--- The `initializationOptions` the server expects, taken from `settings.tea`.
---@param tea table?
---@return table
local function init_options_from(tea)
  tea = tea or {}
  local lua, run = tea.lua or {}, tea.run or {}
  return {
    files = tea.files,
    lua = { timeout = lua.timeout, maxMemory = lua.maxMemory },
    run = { maxParallelBranches = run.maxParallelBranches, strategy = run.strategy },
  }
end

-- answered to workspace/configuration (section "tea") and sent on didChangeConfiguration
local settings = {
  tea = {
    files = { '**/*.tea.yaml', '**/*.tea.yml' },
    lua = { timeout = 30, maxMemory = '64MB' },
    -- maxParallelBranches: unset = the number of CPUs
    run = { strategy = 'process' },
  },
}

---@type vim.lsp.Config
return {
  cmd = { 'tea-lsp', 'serve' },
  filetypes = { 'yaml' },
  root_markers = { '.git', 'pyproject.toml' },
  settings = settings,
  init_options = init_options_from(settings.tea),
  -- keep initializationOptions in step with settings.tea when a user overrides the latter
  before_init = function(params, config)
    local tea = config.settings and config.settings.tea
    params.initializationOptions =
      vim.tbl_deep_extend('force', config.init_options or {}, init_options_from(tea))
  end,
}
