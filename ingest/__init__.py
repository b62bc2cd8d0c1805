"""peoplestack's loader: SAP SuccessFactors and Salesforce into raw schemas of a Postgres warehouse."""
