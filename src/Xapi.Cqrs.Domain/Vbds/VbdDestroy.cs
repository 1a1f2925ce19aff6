using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Vbds;

/// <summary>
/// VBD.destroy (xapi_vbd_helpers.ml <c>destroy</c>, XAPI.md §2.1 "Other VBD rules"): the VBD stream records its end
/// and the VM stream drops it (VbdRemoved), in one commit; reads then answer HANDLE_INVALID, the log keeps it all.
/// </summary>
public static class VbdDestroy
{
    public const string Destroyed = "destroyed";
    public const string Detached = "detached";
    public const string AttachFailed = "the plug of the attach that created it failed";

    /// <summary>
    /// Refusals, in order: attached or reserved → OPERATION_NOT_ALLOWED ["VBD '&lt;vbd&gt;' still attached to
    /// '&lt;vm&gt;'"] (xapi's text); any current operation (a plug or a start's attach in flight) →
    /// OTHER_OPERATION_IN_PROGRESS ["VBD"; vbd; op; task], which xapi does not check (its destroy does not look at
    /// current_operations) but which keeps a device from vanishing under its own plug.
    /// </summary>
    public static Changes Decide(Vm vm, Vbd vbd, Vdi? vdi)
    {
        if (vbd.CurrentlyAttached || vbd.Reserved)
        {
            throw new XapiException(ErrorCodes.OperationNotAllowed, $"VBD '{vbd.Id}' still attached to '{vm.Id}'");
        }

        var current = CurrentOperations.Ordered(vbd.CurrentOperations, o => o.ToWire());
        if (current.Count > 0)
        {
            throw new XapiException(ErrorCodes.OtherOperationInProgress, ObjectClass.Vbd, vbd.Id.ToString(), current[0].Op, current[0].Task.ToString());
        }

        return Destroy(new Changes(), vm, vbd, vdi, Destroyed);
    }

    /// <summary>The destroy itself: VbdDestroyed on the VBD, VbdRemoved on the VM, a hold still on the VDI given back.</summary>
    internal static Changes Destroy(Changes changes, Vm vm, Vbd vbd, Vdi? vdi, string reason)
    {
        changes.Append(StreamKind.Vbd, vbd.Id, new VbdDestroyed(vm.Id, reason));
        VbdHotplug.Release(changes, vbd, vdi);
        return changes.Append(StreamKind.Vm, vm.Id, new VbdRemoved(vbd.Id));
    }
}
