# fish completion for kubectl-vault_ha
# kubectl-vault_ha completion fish > ~/.config/fish/completions/kubectl-vault_ha.fish
function __kubectl_vault_ha_complete
    set -l args (commandline -opc)
    set -l cur (commandline -ct)
    set -l out ($args[1] __complete $args[2..-1] $cur 2>/dev/null)
    or return
    set -l directive (string replace -r '^:' '' -- $out[-1])
    for line in $out[1..-2]
        test -n "$line"; and echo $line
    end
    if test (count $out) -le 1; and test (math "$directive % 8 - $directive % 4") -eq 0
        __fish_complete_path $cur
    end
end
complete -c kubectl-vault_ha -f -a '(__kubectl_vault_ha_complete)'
