namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>The simulator's own records of its domains and their devices (guarded by the host's lock).</summary>
public sealed partial class SimulatedXenHost
{
    /// <summary>Xen's run state of a domain, as far as the simulator models it.</summary>
    private enum Power
    {
        Paused,
        Running,
        Shutdown,
    }

    private static string ToWire(Power power) => power switch
    {
        Power.Paused => DomainStates.Paused,
        Power.Running => DomainStates.Running,
        Power.Shutdown => DomainStates.Shutdown,
        _ => throw new ArgumentOutOfRangeException(nameof(power), power, null),
    };

    private static Power PowerOf(string wire) => wire switch
    {
        DomainStates.Paused => Power.Paused,
        DomainStates.Running => Power.Running,
        DomainStates.Shutdown => Power.Shutdown,
        _ => throw new FormatException($"unknown domain state '{wire}'"),
    };

    private sealed class SimDomain(int domid, DomainSpec spec, long reserved, long memoryTarget, DateTimeOffset createdAt)
    {
        public int Domid { get; } = domid;

        public DomainSpec Spec { get; } = spec;

        /// <summary>Bytes reserved for the domain (§5.5); it holds them until destroyed, shut down or not.</summary>
        public long Reserved { get; } = reserved;

        public long MemoryTarget { get; } = memoryTarget;

        public DateTimeOffset CreatedAt { get; } = createdAt;

        public string Name => Spec.Name.Length > 0 ? Spec.Name : $"Domain-{Domid}";

        public string DomPath => $"/local/domain/{Domid}";

        public string VmPath => $"/vm/{Spec.VmId}";

        public Power Power { get; set; } = Power.Paused;

        /// <summary>Why the domain shut down (set with <see cref="Power.Shutdown"/>).</summary>
        public ShutdownReason? Reason { get; set; }

        /// <summary>The guest has run (been unpaused) at least once: its PV drivers, if any, have announced themselves.</summary>
        public bool Booted { get; set; }

        public bool Destroyed { get; set; }

        public BuildInfo? Build { get; set; }

        public DeviceModelInfo? DeviceModel { get; set; }

        public SimulatedVnc? Vnc { get; set; }

        /// <summary>The clean shutdown asked of the guest and not yet answered, if any.</summary>
        public ShutdownRequest? ShutdownRequest { get; set; }

        public List<SimDevice> Vbds { get; } = [];

        public List<SimDevice> Vifs { get; } = [];

        public List<SimDevice> DevicesOf(string kind) => kind == VbdKind ? Vbds : Vifs;
    }

    /// <summary>One device and its xenstore paths (frontend kind vbd/vif; backend kind vbd/vbd3/qdisk/vif).</summary>
    private sealed class SimDevice(SimDomain domain, Guid id, string kind, string backendKind, int devid, int position, string device, bool empty)
    {
        public SimDomain Domain { get; } = domain;

        public Guid Id { get; } = id;

        public string Kind { get; } = kind;

        public string BackendKind { get; } = backendKind;

        public int Devid { get; } = devid;

        public int Position { get; } = position;

        public string Device { get; } = device;

        public bool Empty { get; } = empty;

        /// <summary>Hotplug has completed (the device is in <see cref="DomainInfo.Vbds"/> / <see cref="DomainInfo.Vifs"/>).</summary>
        public bool Plugged { get; set; }

        /// <summary>A clean unplug is under way: the backend was asked to close.</summary>
        public bool Unplugging { get; set; }

        /// <summary>The minor of the block device the hotplug script attached (VBDs with media).</summary>
        public int? Minor { get; set; }

        public string FrontendPath => $"{Domain.DomPath}/device/{Kind}/{Devid}";

        public string BackendPath => $"{Dom0Backend}/{BackendKind}/{Domain.Domid}/{Devid}";

        public string XenopsPath => $"/xenops/domain/{Domain.Domid}/device/{Kind}/{Devid}";

        public string PrivatePath => $"/xapi/{Domain.Spec.VmId}/private/{Kind}/{Devid}";

        public string HotplugDir => $"/xapi/{Domain.Spec.VmId}/hotplug/{Domain.Domid}/{BackendKind}/{Devid}";

        public string HotplugPath => $"{HotplugDir}/hotplug";

        public string ActivePath => $"{Domain.VmPath}/devices/{Kind}/{Devid}";

        public string Describe => $"{Kind} {Devid} of domain {Domain.Domid}";
    }

    /// <summary>
    /// A pending <c>control/shutdown</c> request: every caller of <see cref="ShutdownAsync"/> waiting on it, and whether the
    /// guest has already been scheduled to answer it.
    /// </summary>
    private sealed class ShutdownRequest
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Waiters { get; set; }

        public bool AnswerScheduled { get; set; }
    }
}
