"""The DynamoDB single-table store. Every key and attribute name of the table lives in this package."""
