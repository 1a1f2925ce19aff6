using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Vifs;

/// <summary>
/// VIF.destroy (xapi_vif_helpers.ml <c>destroy</c>, XAPI.md §2.2): the VIF stream records its end and the VM stream
/// drops it (VifRemoved), in one commit; reads then answer HANDLE_INVALID, the log keeps it all.
/// </summary>
public static class VifDestroy
{
    public const string Destroyed = "destroyed";

    /// <summary>
    /// Refusals, in order: the VM has a domain and the VIF is attached → OPERATION_NOT_ALLOWED ["VIF currently
    /// attached to a running VM"] (xapi's text); any current operation → OTHER_OPERATION_IN_PROGRESS
    /// ["VIF"; vif; "{ops}"; "{tasks}"] (not checked by xapi; keeps a device from vanishing under its own plug).
    /// </summary>
    public static Changes Decide(Vm vm, Vif vif)
    {
        if (vm.PowerState is not VmPowerState.Halted && vif.CurrentlyAttached)
        {
            throw new XapiException(ErrorCodes.OperationNotAllowed, "VIF currently attached to a running VM");
        }

        var current = CurrentOperations.Ordered(vif.CurrentOperations, o => o.ToWire());
        if (current.Count > 0)
        {
            var (ops, tasks) = CurrentOperations.Quote(current, alwaysBraced: true);
            throw new XapiException(ErrorCodes.OtherOperationInProgress, ObjectClass.Vif, vif.Id.ToString(), ops, tasks);
        }

        return new Changes()
            .Append(StreamKind.Vif, vif.Id, new VifDestroyed(vm.Id, Destroyed))
            .Append(StreamKind.Vm, vm.Id, new VifRemoved(vif.Id));
    }
}
