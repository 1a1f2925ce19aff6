using System.Diagnostics.CodeAnalysis;

namespace Xapi.Cqrs.HostAgent.Hypervisor;

/// <summary>The steps a fault can be injected at (API.md wire names in <see cref="HypervisorSteps"/>).</summary>
public enum HypervisorStep
{
    Create,
    Build,
    VbdPlug,
    VifPlug,
    DeviceModel,
    Unpause,
    Pause,
    Shutdown,
    VbdUnplug,
    VifUnplug,
    Destroy,
}

public static class HypervisorSteps
{
    public static string ToWire(this HypervisorStep step) => step switch
    {
        HypervisorStep.Create => "create",
        HypervisorStep.Build => "build",
        HypervisorStep.VbdPlug => "vbd_plug",
        HypervisorStep.VifPlug => "vif_plug",
        HypervisorStep.DeviceModel => "device_model",
        HypervisorStep.Unpause => "unpause",
        HypervisorStep.Pause => "pause",
        HypervisorStep.Shutdown => "shutdown",
        HypervisorStep.VbdUnplug => "vbd_unplug",
        HypervisorStep.VifUnplug => "vif_unplug",
        HypervisorStep.Destroy => "destroy",
        _ => throw new ArgumentOutOfRangeException(nameof(step), step, null),
    };

    public static bool TryParse(string? wire, out HypervisorStep step)
    {
        foreach (var s in Enum.GetValues<HypervisorStep>())
        {
            if (s.ToWire() == wire)
            {
                step = s;
                return true;
            }
        }

        step = default;
        return false;
    }
}

/// <summary>
/// A fault for the next <see cref="Count"/> calls of <see cref="Step"/>: each such call first waits
/// <see cref="DelayMs"/> (honouring its cancellation token), then fails with <see cref="Error"/> if set.
/// A fault with neither an error nor a delay fails with INTERNAL_ERROR. <see cref="Params"/> overrides the
/// error parameters (defaults: INTERNAL_ERROR [text]; HOST_NOT_ENOUGH_FREE_MEMORY [needed; available];
/// FAILED_TO_START_EMULATOR [vm; name; text]; any other code [vm; text]).
/// In <see cref="IFaultInjectable.Faults"/>, <see cref="Count"/> is the number of uses left.
/// </summary>
public sealed record HypervisorFault(
    HypervisorStep Step,
    string? Error = null,
    int? DelayMs = null,
    int Count = 1,
    IReadOnlyList<string>? Params = null)
{
    /// <summary>The code this fault fails with, or null when it only delays.</summary>
    public string? EffectiveError => Error ?? (DelayMs is null ? Domain.ErrorCodes.InternalError : null);

    /// <summary>Check the values an API request may carry.</summary>
    public bool IsValid([NotNullWhen(false)] out string? problem)
    {
        problem = Count < 1 ? "count must be at least 1"
            : DelayMs < 0 ? "delayMs must not be negative"
            : Error is not null && string.IsNullOrWhiteSpace(Error) ? "error must be an error code"
            : !Enum.IsDefined(Step) ? "unknown step"
            : null;
        return problem is null;
    }
}
