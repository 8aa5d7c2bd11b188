-- User commands for tea-lsp: :TeaRun [{json input}], :TeaRunCancel, :TeaRestart,
-- :TeaGraph [svg|mermaid].
-- Also answers the server's "Run workflow" code lens (command `tea.runWorkflow`) the same way.
if vim.g.loaded_tea_lsp then
  return
end
vim.g.loaded_tea_lsp = true

vim.api.nvim_create_user_command('TeaRun', function(opts)
  require('tea_lsp').run_command(opts.args)
end, {
  nargs = '?',
  desc = 'tea-lsp: run the workflow in this buffer, optionally with a JSON object as input',
})

vim.api.nvim_create_user_command('TeaRunCancel', function()
  require('tea_lsp').cancel()
end, { desc = 'tea-lsp: cancel the running workflow(s) of this buffer' })

vim.api.nvim_create_user_command('TeaGraph', function(opts)
  require('tea_lsp').graph(0, opts.args)
end, {
  nargs = '?',
  complete = function()
    return { 'svg', 'mermaid' }
  end,
  desc = 'tea-lsp: show the workflow graph (SVG in the system viewer, or Mermaid text in a split)',
})

vim.api.nvim_create_user_command('TeaRestart', function()
  require('tea_lsp').restart()
end, { desc = 'tea-lsp: restart the language server' })

-- A workflow opened while the server command cannot be found: one warning (vim.notify).
vim.api.nvim_create_autocmd('FileType', {
  pattern = 'yaml',
  group = vim.api.nvim_create_augroup('tea_lsp_check', { clear = true }),
  callback = function(ev)
    require('tea_lsp').check_server(ev.buf)
  end,
  desc = 'tea-lsp: warn when the server command is not found',
})

-- The code lens "Run workflow" sends `tea.runWorkflow` with `[uri]`: run it here so the result
-- is shown, instead of sending it back to the server and dropping the answer.
vim.lsp.commands['tea.runWorkflow'] = function(command, ctx)
  require('tea_lsp').run_lsp_command(command, ctx)
end
