{{ base_deletions('salesforce') }}
