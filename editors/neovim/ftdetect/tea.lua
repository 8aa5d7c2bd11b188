-- TEA workflows are YAML: make sure `*.tea.yaml` / `*.tea.yml` get the yaml filetype (which the
-- tea_lsp config attaches to), whatever other filetype rules say.
vim.filetype.add({
  pattern = {
    ['.*%.tea%.ya?ml'] = 'yaml',
  },
})
