"""sale_dual_write tasks: `carousel.product.sold` -> DynamoDB sales record + Iceberg lake row.

- `validate_sale.handler`: the EventBridge event -> the record, the lake message and the
  idempotency claim the state machine writes with direct DynamoDB/SQS integrations.
- `load_lake_batch.handler`: a Pipe batch of lake messages -> one Iceberg commit to
  `pricing.sales_history`, skipping sales already there.
"""
