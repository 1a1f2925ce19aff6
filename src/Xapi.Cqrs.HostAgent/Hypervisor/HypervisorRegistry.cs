using System.Diagnostics.CodeAnalysis;
using Xapi.Cqrs.HostAgent.Hypervisor.Qemu;
using Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

namespace Xapi.Cqrs.HostAgent.Hypervisor;

/// <summary>
/// The hypervisors of this process, by host id, so the API (inspection, fault injection) and the host agents
/// share one instance per host. Thread-safe. Disposing it disposes every registered hypervisor that is disposable.
/// </summary>
/// <param name="settings">Where simulated hosts keep their state; null or <see cref="SimulatorSettings.InMemory"/>: in memory only.</param>
/// <param name="qemu">Where qemu hosts keep their domains and images; null: under <c>.data</c> in the working directory.</param>
public sealed class HypervisorRegistry(SimulatorSettings? settings = null, QemuSettings? qemu = null) : IDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<Guid, IHypervisor> _hosts = [];
    private bool _disposed;

    /// <summary>Where simulated hosts keep their state.</summary>
    public SimulatorSettings Settings { get; } = settings ?? SimulatorSettings.InMemory;

    /// <summary>
    /// The simulated host registered for <paramref name="hostId"/>, created with these parameters on first use (loading
    /// the state it left in <see cref="SimulatorSettings.HostDirectory"/>, if any). Later calls return the same instance
    /// whatever their parameters.
    /// Throws <see cref="InvalidOperationException"/> when the host already has a non-simulated hypervisor.
    /// </summary>
    public SimulatedXenHost GetOrCreateSimulated(Guid hostId, long memoryTotal, long hostOverhead, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_hosts.TryGetValue(hostId, out var existing))
            {
                return existing as SimulatedXenHost
                    ?? throw new InvalidOperationException($"host {hostId} already has a {existing.Kind} hypervisor");
            }

            var host = new SimulatedXenHost(hostId, memoryTotal, hostOverhead, time, Settings.HostDirectory(hostId));
            _hosts.Add(hostId, host);
            return host;
        }
    }

    /// <summary>Where qemu hosts keep their domains and images.</summary>
    public QemuSettings Qemu { get; } = qemu ?? QemuSettings.UnderDataDir(".data");

    /// <summary>
    /// The qemu host registered for <paramref name="hostId"/>, created with these parameters on first use (adopting the
    /// QEMU processes it left running). Throws <see cref="InvalidOperationException"/> when the host has another backend.
    /// </summary>
    public QemuHost GetOrCreateQemu(Guid hostId, long memoryTotal, long hostOverhead, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_hosts.TryGetValue(hostId, out var existing))
            {
                return existing as QemuHost ?? throw new InvalidOperationException($"host {hostId} already has a {existing.Kind} hypervisor");
            }

            var host = new QemuHost(hostId, memoryTotal, hostOverhead, Qemu, time);
            _hosts.Add(hostId, host);
            return host;
        }
    }

    /// <summary>Register another backend (e.g. qemu). Throws when the host already has one.</summary>
    public void Register(IHypervisor hypervisor)
    {
        ArgumentNullException.ThrowIfNull(hypervisor);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_hosts.TryAdd(hypervisor.HostId, hypervisor))
            {
                throw new InvalidOperationException($"host {hypervisor.HostId} already has a hypervisor");
            }
        }
    }

    public bool TryGet(Guid hostId, [NotNullWhen(true)] out IHypervisor? hypervisor)
    {
        lock (_gate)
        {
            return _hosts.TryGetValue(hostId, out hypervisor);
        }
    }

    /// <summary>Every registered hypervisor.</summary>
    public IReadOnlyList<IHypervisor> All
    {
        get
        {
            lock (_gate)
            {
                return [.. _hosts.Values];
            }
        }
    }

    /// <summary>Unregister (and dispose, when disposable) the host's hypervisor.</summary>
    public bool Remove(Guid hostId)
    {
        IHypervisor? removed;
        lock (_gate)
        {
            if (!_hosts.Remove(hostId, out removed))
            {
                return false;
            }
        }

        (removed as IDisposable)?.Dispose();
        return true;
    }

    public void Dispose()
    {
        List<IHypervisor> all;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            all = [.. _hosts.Values];
            _hosts.Clear();
        }

        foreach (var hypervisor in all)
        {
            (hypervisor as IDisposable)?.Dispose();
        }
    }
}
