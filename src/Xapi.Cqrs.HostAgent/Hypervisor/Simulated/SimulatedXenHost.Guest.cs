using System.Globalization;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// What the guest inside a domain does. A guest with PV drivers (<see cref="DomainSpec.PvDrivers"/>) announces them when
/// it first boots (the first unpause): <c>control/feature-shutdown|reboot|poweroff = 1</c> and the driver version under
/// <c>attr/PVAddons</c> (what xapi's guest agent reader turns into VM_guest_metrics.PV_drivers_version), written before
/// <see cref="UnpauseAsync"/> returns; it acts on <c>control/shutdown</c> after <see cref="GuestShutdownDelay"/> while
/// it is running (a paused guest acts once unpaused), unless <see cref="DomainSpec.IgnoreShutdown"/>. A guest without PV
/// drivers writes nothing and never answers <c>control/shutdown</c>. <see cref="GuestShutdown"/> makes a guest stop by
/// itself.
/// </summary>
public sealed partial class SimulatedXenHost
{
    /// <summary>The driver version the simulated guests report (XenServer VM Tools for Windows 9.4.0, build 146).</summary>
    public const string PvDriversVersion = "9.4.0.146";

    /// <summary>The <c>control/feature-*</c> flags a simulated guest with PV drivers sets.</summary>
    public static readonly IReadOnlyList<string> GuestFeatures = ["feature-shutdown", "feature-reboot", "feature-poweroff"];

    private static readonly string[] PvAddonsKeys = ["MajorVersion", "MinorVersion", "MicroVersion", "BuildVersion"];

    public event EventHandler<DomainStopped>? DomainStopped;

    /// <summary>
    /// Writes <c>control/shutdown</c> = poweroff|reboot (a second request while one is pending replaces the key and waits
    /// with the first: the guest acts on what it reads). Already shut down: true at once. Only
    /// <see cref="ShutdownReason.Poweroff"/> and <see cref="ShutdownReason.Reboot"/> can be asked for
    /// (<see cref="ArgumentOutOfRangeException"/> otherwise); <paramref name="timeout"/> may be zero or infinite. When the
    /// timeout passes or <paramref name="ct"/> is cancelled first, the last waiter withdraws the request (removes the key).
    /// A domain destroyed meanwhile fails INTERNAL_ERROR [Does_not_exist …].
    /// </summary>
    public async Task<bool> ShutdownAsync(Guid vmId, ShutdownReason reason, TimeSpan timeout, CancellationToken ct)
    {
        if (reason is not (ShutdownReason.Poweroff or ShutdownReason.Reboot))
        {
            throw new ArgumentOutOfRangeException(nameof(reason), reason, "a guest can be asked to power off or to reboot");
        }

        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "must not be negative");
        }

        ct.ThrowIfCancellationRequested();
        await ApplyFaultAsync(HypervisorStep.Shutdown, vmId, 0, ct).ConfigureAwait(false);
        SimDomain d;
        ShutdownRequest request;
        ShutdownRequest? answer;
        lock (_gate)
        {
            d = GetLocked(vmId);
            if (d.Power == Power.Shutdown)
            {
                return true;
            }

            request = d.ShutdownRequest ??= new ShutdownRequest();
            request.Waiters++;
            Xenstore.Write($"{d.DomPath}/control/shutdown", reason.ToWire());
            answer = GuestWillAnswerLocked(d);
        }

        if (answer is not null)
        {
            _ = GuestAnswerShutdownAsync(d, answer);
        }

        try
        {
            await (timeout == Timeout.InfiniteTimeSpan ? request.Done.Task.WaitAsync(ct) : request.Done.Task.WaitAsync(timeout, _time, ct))
                .ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is TimeoutException || (e is OperationCanceledException && ct.IsCancellationRequested))
        {
            lock (_gate)
            {
                if (request.Done.Task.IsCompletedSuccessfully)
                {
                    return true; // the guest answered as the wait ended
                }

                request.Waiters--;
                if (request.Waiters == 0 && d.ShutdownRequest == request)
                {
                    d.ShutdownRequest = null;
                    if (!d.Destroyed)
                    {
                        Xenstore.Remove($"{d.DomPath}/control/shutdown");
                    }
                }
            }

            if (e is TimeoutException)
            {
                return false;
            }

            throw;
        }
    }

    /// <summary>
    /// The guest of domain <paramref name="domid"/> stops by itself (powers off, reboots or crashes): the domain enters
    /// state <c>shutdown</c> with <paramref name="reason"/>, keeping its memory until destroyed, and
    /// <see cref="DomainStopped"/> is raised on the calling thread once the host's lock is released (a handler that
    /// throws is ignored). A pending clean shutdown request is answered (its callers get true). A domain that has already
    /// shut down stays as it is and raises nothing. Unknown domid: HANDLE_INVALID ["domain"; domid] (xenopsd's
    /// Does_not_exist as xapi maps it).
    /// </summary>
    /// <returns>The domain as it is afterwards.</returns>
    public DomainInfo GuestShutdown(int domid, ShutdownReason reason)
    {
        if (!Enum.IsDefined(reason))
        {
            throw new ArgumentOutOfRangeException(nameof(reason), reason, null);
        }

        DomainStopped? stopped = null;
        DomainInfo info;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var d = _domains.Values.FirstOrDefault(x => x.Domid == domid)
                ?? throw new HypervisorException(ErrorCodes.HandleInvalid, "domain", domid.ToString(CultureInfo.InvariantCulture));
            if (d.Power != Power.Shutdown)
            {
                EnterShutdownLocked(d, reason);
                stopped = new DomainStopped(d.Spec.VmId, d.Domid, reason, _time.GetUtcNow());
            }

            info = InfoLocked(d);
        }

        if (stopped is not null)
        {
            RaiseDomainStopped(stopped);
        }

        return info;
    }

    /// <summary>The guest boots for the first time: with PV drivers it announces them.</summary>
    private void GuestBootLocked(SimDomain d)
    {
        if (!d.Spec.PvDrivers)
        {
            return;
        }

        var dom = d.DomPath;
        var version = PvDriversVersion.Split('.');
        Xenstore.Transaction(() =>
        {
            foreach (var feature in GuestFeatures)
            {
                Xenstore.Write($"{dom}/control/{feature}", "1");
            }

            Xenstore.Write($"{dom}/attr/PVAddons/Installed", "1");
            for (var i = 0; i < PvAddonsKeys.Length; i++)
            {
                Xenstore.Write($"{dom}/attr/PVAddons/{PvAddonsKeys[i]}", version[i]);
            }
        });
    }

    /// <summary>What the guest's PV drivers have written (from xenstore), or null when they have written nothing.</summary>
    private GuestAgentInfo? GuestLocked(SimDomain d)
    {
        var addons = $"{d.DomPath}/attr/PVAddons";
        if (Xenstore.Read($"{addons}/MajorVersion") is not { } major)
        {
            return null;
        }

        var version = string.Join('.', PvAddonsKeys.Skip(1).Select(k => Xenstore.Read($"{addons}/{k}") ?? "0").Prepend(major));
        var control = $"{d.DomPath}/control";
        var features = Xenstore.Directory(control)
            .Where(k => k.StartsWith("feature-", StringComparison.Ordinal) && Xenstore.Read($"{control}/{k}") == "1")
            .ToList();
        return new GuestAgentInfo(version, features);
    }

    /// <summary>
    /// The pending request, if the guest is now to act on it: running, with PV drivers, not ignoring requests, and not
    /// already about to. Marks it as scheduled; the caller starts <see cref="GuestAnswerShutdownAsync"/> after the lock.
    /// </summary>
    private ShutdownRequest? GuestWillAnswerLocked(SimDomain d)
    {
        if (d.ShutdownRequest is not { AnswerScheduled: false } request
            || d.Power != Power.Running || !d.Spec.PvDrivers || d.Spec.IgnoreShutdown)
        {
            return null;
        }

        request.AnswerScheduled = true;
        return request;
    }

    /// <summary>The guest acts on <c>control/shutdown</c>: it clears the key and its domain shuts down with the reason it read.</summary>
    private async Task GuestAnswerShutdownAsync(SimDomain d, ShutdownRequest request)
    {
        if (!await AfterAsync(GuestShutdownDelay).ConfigureAwait(false))
        {
            return;
        }

        lock (_gate)
        {
            request.AnswerScheduled = false;
            if (_disposed || d.Destroyed || d.ShutdownRequest != request || d.Power != Power.Running)
            {
                return; // withdrawn, gone, or paused meanwhile (the guest acts once unpaused)
            }

            if (ShutdownReasons.TryParse(Xenstore.Read($"{d.DomPath}/control/shutdown"), out var reason))
            {
                EnterShutdownLocked(d, reason);
            }
        }
    }

    /// <summary>The domain shuts down: state, reason, the request answered and its key cleared, the state saved.</summary>
    private void EnterShutdownLocked(SimDomain d, ShutdownReason reason)
    {
        d.Power = Power.Shutdown;
        d.Reason = reason;
        Xenstore.Remove($"{d.DomPath}/control/shutdown");
        d.ShutdownRequest?.Done.TrySetResult();
        d.ShutdownRequest = null;
        PersistLocked(d);
    }

    private void RaiseDomainStopped(DomainStopped stopped)
    {
        if (DomainStopped is not { } handlers)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList().Cast<EventHandler<DomainStopped>>())
        {
            try
            {
                handler(this, stopped);
            }
            catch (Exception)
            {
                // a handler's failure must not fail the guest's stop (handlers must not block or throw)
            }
        }
    }
}
