# bash completion for kubectl-vault_ha
# source it: source <(kubectl-vault_ha completion bash)
_kubectl_vault_ha() {
    local cur="${COMP_WORDS[COMP_CWORD]}" out directive line
    out=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
    directive=${out##*:}
    out=${out%:*}
    COMPREPLY=()
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        line=${line%%$'\t'*}
        [[ "$line" == "$cur"* ]] && COMPREPLY+=("$line")
    done <<< "$out"
    if (( (directive & 2) != 0 )); then compopt -o nospace; fi
    if (( ${#COMPREPLY[@]} == 0 && (directive & 4) == 0 )); then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -F _kubectl_vault_ha kubectl-vault_ha
