namespace Xapi.Cqrs.HostAgent.Hypervisor;

/// <summary>
/// The host agent's port to one host's hypervisor: the member-side micro-operations of xenopsd's
/// <c>VM_start</c> (XAPI.md §6.3), one call per step, plus the inspection the API exposes
/// (<c>GET /api/hosts/{id}/hypervisor/domains</c> and <c>…/xenstore?path=</c>).
/// <para>
/// Every failure is a <see cref="HypervisorException"/> carrying an xapi error code and its
/// parameters (HOST_NOT_ENOUGH_FREE_MEMORY, BOOTLOADER_FAILED, FAILED_TO_START_EMULATOR,
/// INTERNAL_ERROR …); a cancelled <see cref="CancellationToken"/> surfaces as
/// <see cref="OperationCanceledException"/> (the caller maps it to TASK_CANCELLED).
/// </para>
/// <para>
/// The calls are keyed by VM id, not by domid, as xenopsd's are: at most one domain exists per VM,
/// and <see cref="FindDomain"/> tells a restarted agent whether it still does.
/// </para>
/// </summary>
public interface IHypervisor
{
    /// <summary>The host this hypervisor runs.</summary>
    Guid HostId { get; }

    /// <summary>The backend name: <c>simulated</c> or <c>qemu</c>.</summary>
    string Kind { get; }

    /// <summary>The VM's domain, or null when it has none (used for idempotency and reconciliation).</summary>
    DomainInfo? FindDomain(Guid vmId);

    /// <summary>
    /// §6.3 step 2 (<c>VM_create</c>): reserve memory (§5.5), allocate a domid, create the paused domain and
    /// its xenstore tree (§6.6) including the <c>action-request=poweroff</c> marker.
    /// Fails HOST_NOT_ENOUGH_FREE_MEMORY [needed; available] or INTERNAL_ERROR (already exists, bad spec).
    /// </summary>
    Task<DomainInfo> CreateDomainAsync(DomainSpec spec, CancellationToken ct);

    /// <summary>§6.3 step 3 (<c>VM_build</c>): load the kernel/firmware, set vCPU parameters, write store/console keys.</summary>
    Task<BuildInfo> BuildDomainAsync(Guid vmId, CancellationToken ct);

    /// <summary>
    /// §6.3 step 4a: set the VBD active, write its frontend/backend (§6.7) and wait for hotplug. Also a hot-plug into a
    /// running domain. <see cref="PlugInfo.Device"/> is what xapi stores in VBD.device: an HVM guest's first four
    /// positions are IDE (hda–hdd, devids 768, 832, 5632, 5696), everything else xvd (xvda = 51712 …). Refused
    /// (INTERNAL_ERROR) into a domain that has shut down.
    /// </summary>
    Task<PlugInfo> PlugVbdAsync(Guid vmId, VbdSpec vbd, CancellationToken ct);

    /// <summary>§6.3 step 4b: set the VIF active, write its frontend/backend (§6.7) and wait for hotplug.</summary>
    Task<PlugInfo> PlugVifAsync(Guid vmId, VifSpec vif, CancellationToken ct);

    /// <summary>§6.3 step 5: start qemu (HVM) or the PV text console (vncterm) unless disabled.</summary>
    Task<DeviceModelInfo> CreateDeviceModelAsync(Guid vmId, CancellationToken ct);

    /// <summary>§6.3 step 8: remove <c>action-request</c>, the domain is now survivable.</summary>
    Task ClearActionRequestAsync(Guid vmId, CancellationToken ct);

    /// <summary>
    /// <c>VM_unpause</c>: paused → running; INTERNAL_ERROR [Domain_not_built …] when not built (or HVM without qemu). A
    /// running domain stays running and a shut-down one shut down (xenopsd unpauses only a Paused domain). The first
    /// unpause boots the guest: one with PV drivers has written them (<see cref="DomainInfo.Guest"/>) when this returns.
    /// </summary>
    Task UnpauseAsync(Guid vmId, CancellationToken ct);

    /// <summary><c>VM_pause</c>: running → paused (fault step <c>pause</c>); INTERNAL_ERROR [Domain_not_built …] as for unpause; a paused domain stays paused, a shut-down one shut down.</summary>
    Task PauseAsync(Guid vmId, CancellationToken ct);

    /// <summary>
    /// Hot-unplug a VBD (fault step <c>vbd_unplug</c>): the frontend, backend, private and hotplug entries go (§6.7) and
    /// the device leaves <see cref="DomainInfo.Vbds"/>. From a running guest with PV drivers the unplug is clean (the
    /// backend closes, the guest's frontend answers; INTERNAL_ERROR [Device_detach_rejected …] when it does not within the
    /// hotplug timeout, the device staying plugged); from any other domain it is forced (at once). A device not plugged,
    /// or a VM without a domain, is fine: nothing happens and no fault is taken (idempotent).
    /// </summary>
    Task UnplugVbdAsync(Guid vmId, Guid vbdId, CancellationToken ct);

    /// <summary>Hot-unplug a VIF of a running domain (fault step <c>vif_unplug</c>); idempotent as <see cref="UnplugVbdAsync"/>.</summary>
    Task UnplugVifAsync(Guid vmId, Guid vifId, CancellationToken ct);

    /// <summary>
    /// Ask the guest to shut down cleanly (fault step <c>shutdown</c>): writes <c>control/shutdown</c> =
    /// <c>poweroff</c> or <c>reboot</c>; the guest acknowledges (clears the key) and its domain shuts down with that
    /// reason (<see cref="DomainInfo.State"/> = <c>shutdown</c>, <see cref="DomainInfo.ShutdownReason"/>). Answers true
    /// once the domain has shut down, false when <paramref name="timeout"/> (on the hypervisor's TimeProvider) passes
    /// first: then the request is withdrawn and the domain keeps running. A shutdown asked for this way does not
    /// raise <see cref="DomainStopped"/>. The domain still exists afterwards, holding its memory: the caller destroys it.
    /// A domain already shut down answers true at once; only poweroff and reboot can be asked for
    /// (<see cref="ArgumentOutOfRangeException"/> for crash); a guest without PV drivers, a paused guest (until unpaused)
    /// and one that ignores requests never answer; <see cref="Timeout.InfiniteTimeSpan"/> waits for ever; cancellation
    /// withdraws the request too.
    /// </summary>
    Task<bool> ShutdownAsync(Guid vmId, ShutdownReason reason, TimeSpan timeout, CancellationToken ct);

    /// <summary>
    /// A domain stopped by itself (the guest powered off, rebooted or crashed), as xenopsd's event thread sees it:
    /// raised once per stop, after the domain has entered the <c>shutdown</c> state. Handlers must not block.
    /// </summary>
    event EventHandler<DomainStopped>? DomainStopped;

    /// <summary>
    /// Destroy the VM's domain and free everything it held (memory, devices, console) (fault step <c>destroy</c>; a
    /// failing destroy leaves the domain as it was). Idempotent: no domain, nothing to do and no fault taken.
    /// </summary>
    Task DestroyDomainAsync(Guid vmId, CancellationToken ct);

    /// <summary>Guest domains (dom0 excluded), ordered by domid.</summary>
    IReadOnlyList<DomainInfo> ListDomains();

    /// <summary>A deep copy of the xenstore subtree at <paramref name="path"/>, or null when the node does not exist.</summary>
    XenstoreNode? ReadXenstore(string path);

    /// <summary>Host memory in bytes.</summary>
    long MemoryTotal { get; }

    /// <summary>Bytes not held by dom0/the host or reserved by a domain.</summary>
    long MemoryFree { get; }
}

/// <summary>
/// A hypervisor that accepts injected faults (API.md: <c>POST /api/hosts/{id}/hypervisor/faults</c>).
/// Only test/simulated backends implement it.
/// </summary>
public interface IFaultInjectable
{
    /// <summary>Queue a fault for the next <see cref="HypervisorFault.Count"/> calls of its step.</summary>
    void AddFault(HypervisorFault fault);

    /// <summary>Remove every queued fault.</summary>
    void ClearFaults();

    /// <summary>The queued faults, in the order they apply, with their remaining counts.</summary>
    IReadOnlyList<HypervisorFault> Faults { get; }
}
