# shellcheck shell=bash
# hack/lib/debian.sh: shell functions shared by hack/engines and
# hack/test-env-debian (sourced, not run).

# The machine's own Debian archive URI (http://deb.debian.org/debian/ or a
# mirror), so sid packages, debootstrap and source packages come from the
# same place. apt knows every configured source, one-line or deb822, via
# indextargets; take the plain "<codename>" suite (not -security/-updates).
debian_archive_uri() {
  local codename uri
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  # shellcheck disable=SC2016 # $(...) here is apt's format syntax
  uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
        awk -v s="$codename" '$2 == s { print $1; exit }')
  if [ -z "$uri" ]; then
    # Fallback: parse the files (first URI of an entry naming the suite).
    uri=$( { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
               sed -E 's/\[[^]]*\]//' | awk -v s="$codename" '$1 == "deb" && $3 == s { print $2; exit }'
             cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
               awk -v s="$codename" 'BEGIN{RS=""} $0 ~ "Suites:[^\n]*[ \t]" s "([ \t\n]|$)" {
                 if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { u = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", u); print u; exit } }'
           } | head -n1)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# apt_private_opts DIR LIST: sets the array APT_PRIVATE to apt-get options
# that use the sources list LIST and keep lists, cache and preferences under
# DIR, so the system's apt state is neither read for sources nor changed.
apt_private_opts() {
  local dir=$1 list=$2
  mkdir -p "$dir/parts" "$dir/lists/partial" "$dir/cache/archives/partial"
  # shellcheck disable=SC2034 # used by the scripts that source this file
  APT_PRIVATE=(
    -o "Dir::Etc::sourcelist=$list"
    -o "Dir::Etc::sourceparts=$dir/parts"
    -o "Dir::Etc::preferences=$dir/none"
    -o "Dir::Etc::preferencesparts=$dir/parts"
    -o "Dir::State::Lists=$dir/lists"
    -o "Dir::Cache=$dir/cache"
    -o "APT::Sandbox::User=root"
    -o "Acquire::Languages=none"
  )
}
