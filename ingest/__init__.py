"""peoplestack's loader: SuccessFactors and Salesforce into a Postgres warehouse's raw schemas."""
