namespace Xapi.Cqrs.Domain.Operations;

// current_operations entries, on VM, VBD, VIF and host streams alike (xapi: task ref → op).
// Every OperationAdded gets exactly one OperationRemoved with the same task id, whatever the outcome.
// ObjectClass (VM, VBD, VIF, host) lets the open-operations view name the object without a lookup.

public sealed record OperationAdded(Guid TaskId, string Operation, string ObjectClass = "");

public sealed record OperationRemoved(Guid TaskId, string Operation, string ObjectClass = "");
