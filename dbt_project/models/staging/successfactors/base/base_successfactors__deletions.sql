{{ base_deletions('successfactors') }}
