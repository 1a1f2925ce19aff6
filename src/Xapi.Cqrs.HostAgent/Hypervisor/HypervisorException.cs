using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.HostAgent.Hypervisor;

/// <summary>
/// A hypervisor step failed. <see cref="Code"/> is the xapi error code after xapi's
/// <c>transform_xenops_exn</c> (XAPI.md §6.2 step 9) and <see cref="Params"/> its parameters in xapi's order:
/// HOST_NOT_ENOUGH_FREE_MEMORY [needed; available], BOOTLOADER_FAILED [vm; msg],
/// FAILED_TO_START_EMULATOR [vm; name; msg], INTERNAL_ERROR [text] (xenopsd's Already_exists,
/// Does_not_exist, Domain_not_built, hotplug timeouts …).
/// </summary>
public sealed class HypervisorException(string code, params string[] parameters)
    : Exception($"{code} [{string.Join("; ", parameters)}]")
{
    public string Code { get; } = code;

    public IReadOnlyList<string> Params { get; } = parameters;

    /// <summary>The same error as the domain's exception type (for StartFailed events and problem+json).</summary>
    public XapiException ToXapiException() => new(Code, [.. Params]);

    internal static HypervisorException Internal(string text) => new(ErrorCodes.InternalError, text);

    internal static HypervisorException NoDomain(Guid vmId) =>
        Internal($"Does_not_exist: VM {vmId} has no domain on this host");
}
