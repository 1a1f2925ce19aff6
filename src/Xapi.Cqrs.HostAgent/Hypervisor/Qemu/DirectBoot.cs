namespace Xapi.Cqrs.HostAgent.Hypervisor.Qemu;

/// <summary>
/// A kernel and initramfs a qemu guest boots directly (QEMU's <c>-kernel</c>, <c>-initrd</c>, <c>-append</c>): a VDI whose
/// other_config names them (<see cref="KernelKey"/>, <see cref="InitrdKey"/>, optionally <see cref="CmdlineKey"/>) backs
/// the VM's boot disk with them, so a real Linux guest boots without an installed disk.
/// </summary>
public sealed record DirectBoot(string Kernel, string Initrd, string Cmdline)
{
    public const string KernelKey = "qemu.kernel";
    public const string InitrdKey = "qemu.initrd";
    public const string CmdlineKey = "qemu.cmdline";

    /// <summary>The serial console and "reboot at once on panic", unless the VDI says otherwise.</summary>
    public const string DefaultCmdline = "console=ttyS0 panic=-1";

    /// <summary>The pair a VDI's other_config names, or null when it names no kernel.</summary>
    public static DirectBoot? From(IReadOnlyDictionary<string, string>? otherConfig) =>
        otherConfig is not null && otherConfig.TryGetValue(KernelKey, out var kernel) && kernel.Length > 0
            ? new DirectBoot(kernel, otherConfig.GetValueOrDefault(InitrdKey, ""), otherConfig.GetValueOrDefault(CmdlineKey, DefaultCmdline))
            : null;

    /// <summary>The direct boot of a VM: that of its first bootable disk (by position) whose VDI names a kernel.</summary>
    public static DirectBoot? ForVm(IEnumerable<(Domain.Vbds.Vbd Vbd, Domain.Storage.Vdi? Vdi)> disks) =>
        disks.Where(d => d.Vbd.Bootable && d.Vdi is not null)
            .OrderBy(d => Domain.Vbds.DeviceNames.Position(d.Vbd.Userdevice, controlDomain: true) ?? int.MaxValue)
            .Select(d => From(d.Vdi!.OtherConfig))
            .FirstOrDefault(b => b is not null);
}
