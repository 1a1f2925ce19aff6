using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Xapi.Cqrs.Cli;

/// <summary>VBDs and VIFs: create on a VM, show, plug, unplug, detach, destroy.</summary>
internal static class DeviceVerbs
{
    public static void Add(CommandTree t)
    {
        var vmArg = t.Named("vm", "VM uuid or name label", "api/vms");
        var vdiArg = t.Named("vdi", "VDI uuid or name label", "api/vdis");
        var userdevice = new Option<string>("--device")
        {
            HelpName = "N|autodetect",
            Description = "The disk's userdevice: its position (0, 1, …), or autodetect for the first free one",
            DefaultValueFactory = _ => "autodetect",
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (text.Equals("autodetect", StringComparison.OrdinalIgnoreCase))
                {
                    return "autodetect";
                }
                if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    return n.ToString(CultureInfo.InvariantCulture);
                }
                result.AddError($"--device must be a number (0, 1, …) or autodetect, not '{text}'");
                return null;
            },
        };
        var mode = new Option<string>("--mode")
        {
            HelpName = "RW|RO",
            Description = "Read-write or read-only",
            DefaultValueFactory = _ => "RW",
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (text.ToUpperInvariant() is "RW" or "RO")
                {
                    return text.ToUpperInvariant();
                }
                result.AddError($"--mode must be RW or RO, not '{text}'");
                return null;
            },
        };
        mode.CompletionSources.Add("RW", "RO");
        t.Define("vm-disk-add", "Give a VM a disk: a VBD for the VDI, plugged at once if the VM is running", [vmArg, vdiArg, userdevice, mode], async (r, s, ct) =>
        {
            var givenVm = r.GetValue(vmArg)!;
            var givenVdi = r.GetValue(vdiArg)!;
            var vmId = await s.ResolveVmAsync(givenVm, ct);
            var vdiId = await s.ResolveVdiAsync(givenVdi, ct);
            var body = new VbdBody(vdiId, r.GetValue(userdevice)!, r.GetValue(mode)!, "Disk", Plug: true);
            var reply = await s.Client.PostAsync<Created>($"api/vms/{vmId}/vbds", body, ct);
            var vbd = s.Json ? null : await s.TryGetAsync<Vbd>($"api/vbds/{reply.Value.Id}", ct);
            s.Print(reply, created => Rendering.DiskAdded(s.Console, created.Id, Rendering.Named(givenVdi, vdiId), Rendering.Named(givenVm, vmId), body, vbd));
        });

        var networkArg = t.Named("network", "Network uuid or name label", "api/networks");
        var vifDevice = new Option<string>("--device")
        {
            HelpName = "N",
            Description = "The VIF's device number (0, 1, …)",
            DefaultValueFactory = _ => "0",
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    return n.ToString(CultureInfo.InvariantCulture);
                }
                result.AddError($"--device must be a number (0, 1, …), not '{text}'");
                return null;
            },
        };
        var mac = new Option<string?>("--mac") { HelpName = "mac", Description = "The MAC address (default: one is generated)" };
        t.Define("vm-vif-add", "Give a VM a network interface: a VIF on the network", [vmArg, networkArg, vifDevice, mac], async (r, s, ct) =>
        {
            var givenVm = r.GetValue(vmArg)!;
            var givenNetwork = r.GetValue(networkArg)!;
            var vmId = await s.ResolveVmAsync(givenVm, ct);
            var networkId = await s.ResolveNetworkAsync(givenNetwork, ct);
            var reply = await s.Client.PostAsync<Created>($"api/vms/{vmId}/vifs", new VifBody(networkId, r.GetValue(vifDevice)!, r.GetValue(mac), null), ct);
            var vif = s.Json ? null : await s.TryGetAsync<Vif>($"api/vifs/{reply.Value.Id}", ct);
            s.Print(reply, created => Rendering.Line(s.Console,
                $"VIF {created.Id} connects VM {Rendering.Named(givenVm, vmId)} to network {Rendering.Named(givenNetwork, networkId)} as device {vif?.Device ?? r.GetValue(vifDevice)}" +
                (vif?.Mac is { Length: > 0 } m ? $", MAC {m}" : "")));
        });

        var vbdArg = CommandTree.Uuid("vbd", "VBD");
        t.Define("vbd-show", "Show every field of a VBD", [vbdArg], async (r, s, ct) =>
            s.Print(await s.Client.GetAsync<JsonElement>($"api/vbds/{r.GetValue(vbdArg)}", ct), v => Rendering.Record(s.Console, Program.AsObject(v))));
        void DefineVbdCall(string call, string description) =>
            t.Define($"vbd-{call}", description, [vbdArg], async (r, s, ct) =>
            {
                var reply = await s.Client.PostAsync<Vbd>($"api/vbds/{r.GetValue(vbdArg)}/{call}", ct);
                var vmName = s.Json ? null : await s.TryVmNameAsync(reply.Value.Vm, ct);
                s.Print(reply, vbd => Rendering.DeviceState(s.Console, vbd, vmName));
            });
        DefineVbdCall("plug", "Plug a VBD into its running VM (hot-plug)");
        DefineVbdCall("unplug", "Unplug a VBD from its running VM (hot-unplug)");
        t.Define("vbd-detach", "Detach a VBD: unplug it if it is plugged, then destroy it", [vbdArg], async (r, s, ct) =>
        {
            var id = r.GetValue(vbdArg)!;
            s.Print(await s.Client.PostAsync<Vm>($"api/vbds/{id}/detach", ct), vm => Rendering.Line(s.Console, $"VBD {id} is detached from VM {Rendering.Named(vm.NameLabel, vm.Id)}"));
        });
        t.Define("vbd-destroy", "Destroy an unplugged VBD", [vbdArg], async (r, s, ct) =>
        {
            var id = r.GetValue(vbdArg)!;
            s.Print(await s.Client.DeleteAsync($"api/vbds/{id}", ct), _ => Rendering.Line(s.Console, $"VBD {id} is destroyed"));
        });

        var vifArg = CommandTree.Uuid("vif", "VIF");
        t.Define("vif-show", "Show every field of a VIF", [vifArg], async (r, s, ct) =>
            s.Print(await s.Client.GetAsync<JsonElement>($"api/vifs/{r.GetValue(vifArg)}", ct), v => Rendering.Record(s.Console, Program.AsObject(v))));
        void DefineVifCall(string call, string description) =>
            t.Define($"vif-{call}", description, [vifArg], async (r, s, ct) =>
            {
                var reply = await s.Client.PostAsync<Vif>($"api/vifs/{r.GetValue(vifArg)}/{call}", ct);
                var vmName = s.Json ? null : await s.TryVmNameAsync(reply.Value.Vm, ct);
                s.Print(reply, vif => Rendering.DeviceState(s.Console, vif, vmName));
            });
        DefineVifCall("plug", "Plug a VIF into its running VM (hot-plug)");
        DefineVifCall("unplug", "Unplug a VIF from its running VM (hot-unplug)");
        t.Define("vif-destroy", "Destroy an unplugged VIF", [vifArg], async (r, s, ct) =>
        {
            var id = r.GetValue(vifArg)!;
            s.Print(await s.Client.DeleteAsync($"api/vifs/{id}", ct), _ => Rendering.Line(s.Console, $"VIF {id} is destroyed"));
        });
    }
}
