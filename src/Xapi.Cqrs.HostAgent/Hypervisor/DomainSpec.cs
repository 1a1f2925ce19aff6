using System.Collections.Immutable;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Hypervisor;

/// <summary>
/// What <see cref="IHypervisor.CreateDomainAsync"/> needs of a VM: the xenopsd <c>Vm.t</c> that xapi's
/// <c>Xenopsd_metadata.push</c> builds (XAPI.md §6.2 step 3). Memory sizes are bytes.
/// </summary>
public sealed record DomainSpec
{
    /// <summary>Default <c>VCPUs_params:weight</c> (§6.2 step 3).</summary>
    public const int DefaultVcpuWeight = 256;

    /// <summary>Default <c>VCPUs_params:cap</c> (0 = no cap).</summary>
    public const int DefaultVcpuCap = 0;

    public required Guid VmId { get; init; }

    /// <summary>Domain name; empty means <c>Domain-&lt;domid&gt;</c> as in <c>Domain.make</c>.</summary>
    public string Name { get; init; } = "";

    public required DomainType DomainType { get; init; }

    /// <summary>VCPUs_max (xenopsd <c>vcpu_max</c>).</summary>
    public required int VcpusMax { get; init; }

    /// <summary>VCPUs_at_startup (xenopsd <c>vcpus</c>).</summary>
    public required int VcpusAtStartup { get; init; }

    public required long MemoryStaticMax { get; init; }

    public required long MemoryDynamicMin { get; init; }

    public required long MemoryDynamicMax { get; init; }

    /// <summary>VM.memory_overhead in bytes (§5.2).</summary>
    public long MemoryOverhead { get; init; }

    public double HvmShadowMultiplier { get; init; } = 1.0;

    public string PvKernel { get; init; } = "";

    public string PvBootloader { get; init; } = "";

    /// <summary>VCPUs_params: <c>mask</c> (comma-separated pCPUs), <c>weight</c> (default 256), <c>cap</c> (default 0).</summary>
    public IReadOnlyDictionary<string, string> VcpusParams { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>VM.platform, written under <c>/local/domain/&lt;domid&gt;/platform</c>.</summary>
    public IReadOnlyDictionary<string, string> Platform { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>VM.bios_strings, written under <c>/local/domain/&lt;domid&gt;/bios-strings</c>.</summary>
    public IReadOnlyDictionary<string, string> BiosStrings { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>VM.xenstore_data; only keys under <c>vm-data/</c> or <c>FIST/</c> reach the domain (§6.6).</summary>
    public IReadOnlyDictionary<string, string> XenstoreData { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>True when VM.other_config has the key <c>disable_pv_vnc</c> (any value): no PV text console.</summary>
    public bool DisablePvVnc { get; init; }

    /// <summary>VM.has_vendor_device → <c>control/has-vendor-device</c>.</summary>
    public bool HasVendorDevice { get; init; }

    /// <summary>HVM firmware: <c>bios</c> or <c>uefi</c> (UEFI writes <c>hvmloader/bios=ovmf</c>).</summary>
    public string Firmware { get; init; } = "bios";

    /// <summary>
    /// The simulated guest has PV drivers (<c>other_config:simulator.pv_drivers</c> is not "false"): once booted it
    /// writes its driver version and <c>control/feature-*</c> flags (API.md), and it answers <c>control/shutdown</c> and
    /// closes its device frontends on a clean unplug. False: the guest does none of that, whatever its domain type.
    /// </summary>
    public bool PvDrivers { get; init; } = true;

    /// <summary>The simulated guest ignores clean shutdown requests (<c>other_config:simulator.ignore_shutdown</c> = "true").</summary>
    public bool IgnoreShutdown { get; init; }

    /// <summary>
    /// A kernel and initramfs the guest boots directly instead of its firmware's boot order (qemu hosts only): the
    /// <see cref="Qemu.DirectBoot"/> of the VM's boot disk, set by the agent from that VDI's other_config.
    /// </summary>
    public Qemu.DirectBoot? DirectBoot { get; init; }

    /// <summary>Translate a VM record the way xapi does before pushing it to xenopsd.</summary>
    public static DomainSpec FromVm(Vm vm)
    {
        ArgumentNullException.ThrowIfNull(vm);
        return new DomainSpec
        {
            VmId = vm.Id,
            Name = vm.NameLabel,
            DomainType = vm.DomainType,
            VcpusMax = checked((int)vm.VcpusMax),
            VcpusAtStartup = checked((int)vm.VcpusAtStartup),
            MemoryStaticMax = vm.MemoryStaticMax,
            MemoryDynamicMin = vm.MemoryDynamicMin,
            MemoryDynamicMax = vm.MemoryDynamicMax,
            MemoryOverhead = vm.MemoryOverhead,
            HvmShadowMultiplier = vm.HvmShadowMultiplier,
            PvKernel = vm.PvKernel,
            PvBootloader = vm.PvBootloader,
            VcpusParams = vm.VcpusParams,
            Platform = vm.Platform,
            BiosStrings = vm.BiosStrings,
            DisablePvVnc = vm.OtherConfig.ContainsKey("disable_pv_vnc"),
            HasVendorDevice = false,
            PvDrivers = !(vm.OtherConfig.TryGetValue("simulator.pv_drivers", out var pv) && pv.Equals("false", StringComparison.OrdinalIgnoreCase)),
            IgnoreShutdown = vm.OtherConfig.TryGetValue("simulator.ignore_shutdown", out var ignore) && ignore.Equals("true", StringComparison.OrdinalIgnoreCase),
            Firmware = vm.Platform.TryGetValue("device-model", out var dm) && dm == "qemu-upstream-uefi" ? "uefi" : "bios",
        };
    }
}

/// <summary>One VBD to plug (§6.7). <see cref="Position"/> is <c>DeviceNames.Position</c> of the userdevice.</summary>
public sealed record VbdSpec
{
    public required Guid VbdId { get; init; }

    /// <summary>Disk position 0–255: 0 → xvda (devid 51712).</summary>
    public required int Position { get; init; }

    public VbdMode Mode { get; init; } = VbdMode.RW;

    public VbdType Type { get; init; } = VbdType.Disk;

    /// <summary>An empty CD drive (no VDI).</summary>
    public bool Empty { get; init; }

    public Guid? VdiId { get; init; }

    /// <summary>VBD.unpluggable → backend <c>removable</c>.</summary>
    public bool Unpluggable { get; init; } = true;

    /// <summary>Backend kind: <c>vbd</c>, <c>vbd3</c> or <c>qdisk</c>.</summary>
    public string BackendKind { get; init; } = "vbd";

    /// <summary>The VDI's SR (qemu hosts keep its image under the SR's directory); null for an empty drive or when not known.</summary>
    public Guid? SrId { get; init; }

    /// <summary>The VDI's virtual size in bytes (the size of a qemu host's image); 0 when not known.</summary>
    public long VirtualSize { get; init; }

    /// <summary>Build a spec from a VBD record (and its VDI, when loaded); the position comes from its userdevice unless given.</summary>
    public static VbdSpec FromVbd(Vbd vbd, int? position = null, Domain.Storage.Vdi? vdi = null)
    {
        ArgumentNullException.ThrowIfNull(vbd);
        var pos = position ?? DeviceNames.Position(vbd.Userdevice, controlDomain: true)
            ?? throw new HypervisorException(ErrorCodes.InternalError, $"VBD {vbd.Id} has no device position (userdevice '{vbd.Userdevice}')");
        return new VbdSpec
        {
            VbdId = vbd.Id,
            Position = pos,
            Mode = vbd.Mode,
            Type = vbd.Type,
            Empty = vbd.Empty,
            VdiId = vbd.VdiId,
            Unpluggable = vbd.Unpluggable,
            SrId = vdi?.SrId,
            VirtualSize = vdi?.VirtualSize ?? 0,
        };
    }
}

/// <summary>One VIF to plug (§6.7).</summary>
public sealed record VifSpec
{
    public required Guid VifId { get; init; }

    /// <summary>VIF.device: the devid and <c>handle</c>.</summary>
    public required int Device { get; init; }

    public required string Mac { get; init; }

    public long Mtu { get; init; } = 1500;

    /// <summary>The network's bridge on this host.</summary>
    public required string Bridge { get; init; }

    public Guid NetworkId { get; init; }

    /// <summary>Build a spec from a VIF record and its network's bridge.</summary>
    public static VifSpec FromVif(Vif vif, string bridge)
    {
        ArgumentNullException.ThrowIfNull(vif);
        if (!int.TryParse(vif.Device, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var device))
        {
            throw new HypervisorException(ErrorCodes.InternalError, $"VIF {vif.Id} has an invalid device '{vif.Device}'");
        }

        return new VifSpec { VifId = vif.Id, Device = device, Mac = vif.Mac, Mtu = vif.Mtu, Bridge = bridge, NetworkId = vif.NetworkId };
    }
}
