using System.Net;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Inventory;

public sealed class VbdTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Created_vbd_reads_back_and_is_listed_on_its_vm()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = await client.CreateVdi();
        using var created = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "0", mode = "RW", type = "Disk", bootable = true });
        var id = await created.CreatedId();
        created.Headers.Location!.ToString().ShouldBe($"/api/vbds/{id}");

        var read = await client.GetJson($"/api/vbds/{id}");
        read.GetProperty("id").GetGuid().ShouldBe(id);
        read.GetProperty("vm").GetGuid().ShouldBe(vm);
        read.GetProperty("vdi").GetGuid().ShouldBe(vdi);
        read.GetProperty("userdevice").GetString().ShouldBe("0");
        read.GetProperty("mode").GetString().ShouldBe("RW");
        read.GetProperty("type").GetString().ShouldBe("Disk");
        read.GetProperty("currentlyAttached").GetBoolean().ShouldBeFalse();
        read.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();

        var vmRead = await client.GetJson($"/api/vms/{vm}");
        vmRead.GetProperty("vbds").EnumerateArray().Select(v => v.GetGuid()).ShouldBe([id]);
        vmRead.GetProperty("version").GetInt64().ShouldBe(2);
    }

    [Fact]
    public async Task Empty_read_only_cd_needs_no_vdi()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var id = await client.CreateVbd(vm, vdi: null, userdevice: "3", mode: "RO", type: "CD", empty: true);

        var read = await client.GetJson($"/api/vbds/{id}");
        read.GetProperty("type").GetString().ShouldBe("CD");
        read.GetProperty("mode").GetString().ShouldBe("RO");
        read.GetProperty("vdi").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
    }

    [Fact]
    public async Task Autodetect_takes_the_lowest_free_position()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        await client.CreateVbd(vm, await client.CreateVdi(), userdevice: "0");
        var id = await client.CreateVbd(vm, await client.CreateVdi(), userdevice: "autodetect");

        (await client.GetJson($"/api/vbds/{id}")).GetProperty("userdevice").GetString().ShouldBe("1");
    }

    [Fact]
    public async Task Userdevice_that_names_no_position_is_invalid_device()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = await client.CreateVdi();
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "xyz", mode = "RW", type = "Disk" });
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_DEVICE", "xyz");
        problem.GetProperty("errors").TryGetProperty("userdevice", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Userdevice_missing_is_invalid_device()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = await client.CreateVdi();
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, mode = "RW", type = "Disk" });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_DEVICE", "");
    }

    [Fact]
    public async Task Userdevice_255_on_an_ordinary_vm_is_invalid_device()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = await client.CreateVdi();
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "255", mode = "RW", type = "Disk" });
        // API.md lists INVALID_DEVICE among the 400 codes (a field that fails validation).
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_DEVICE", "255");
    }

    [Fact]
    public async Task Same_userdevice_twice_is_device_already_exists()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        await client.CreateVbd(vm, await client.CreateVdi(), userdevice: "1");
        var version = (await client.GetJson($"/api/vms/{vm}")).GetProperty("version").GetInt64();

        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = await client.CreateVdi(), userdevice = "1", mode = "RW", type = "Disk" });
        await response.ShouldBeProblem(HttpStatusCode.Conflict, "DEVICE_ALREADY_EXISTS", "1");
        var vmRead = await client.GetJson($"/api/vms/{vm}");
        vmRead.GetProperty("vbds").GetArrayLength().ShouldBe(1);
        vmRead.GetProperty("version").GetInt64().ShouldBe(version);
    }

    [Theory]
    [InlineData("0", "xvda")]
    [InlineData("xvdb", "1")]
    [InlineData("hda", "0")]
    [InlineData("sdc", "xvdc")]
    public async Task Alias_of_a_taken_position_is_device_already_exists(string first, string alias)
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        await client.CreateVbd(vm, await client.CreateVdi(), userdevice: first);

        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = await client.CreateVdi(), userdevice = alias, mode = "RW", type = "Disk" });
        await response.ShouldBeProblem(HttpStatusCode.Conflict, "DEVICE_ALREADY_EXISTS", alias);
    }

    [Fact]
    public async Task Read_write_cd_is_refused()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = await client.CreateVdi(readOnly: true);
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "3", mode = "RW", type = "CD" });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "VBD_CDS_MUST_BE_READONLY");
    }

    [Fact]
    public async Task Empty_disk_is_not_removable_media()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { userdevice = "1", mode = "RW", type = "Disk", empty = true });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "VBD_NOT_REMOVABLE_MEDIA", "in constructor");
    }

    [Fact]
    public async Task Unknown_mode_is_value_not_supported()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = await client.CreateVdi();
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "1", mode = "WO", type = "Disk" });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "VALUE_NOT_SUPPORTED", "mode", "WO", "one of RO, RW");
    }

    [Fact]
    public async Task Numeric_mode_is_value_not_supported()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = await client.CreateVdi();
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "1", mode = "7", type = "Disk" });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "VALUE_NOT_SUPPORTED", "mode", "7", "one of RO, RW");
    }

    [Fact]
    public async Task Read_write_vbd_on_a_read_only_vdi_is_vdi_readonly()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = await client.CreateVdi(readOnly: true);
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "0", mode = "RW", type = "Disk" });
        await response.ShouldBeProblem(HttpStatusCode.Conflict, "VDI_READONLY", vdi.ToString());
        (await client.GetJson($"/api/vms/{vm}")).GetProperty("vbds").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task Read_only_vbd_on_a_read_only_vdi_is_created()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = await client.CreateVdi(readOnly: true);
        var id = await client.CreateVbd(vm, vdi, mode: "RO");

        (await client.GetJson($"/api/vbds/{id}")).GetProperty("mode").GetString().ShouldBe("RO");
    }

    [Fact]
    public async Task Vbd_on_an_unknown_vm_is_handle_invalid()
    {
        using var client = server.Client();
        var vm = Guid.NewGuid();
        var vdi = await client.CreateVdi();
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "0", mode = "RW", type = "Disk" });
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VM", vm.ToString());
    }

    [Fact]
    public async Task Vbd_on_an_unknown_vdi_is_handle_invalid()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = Guid.NewGuid();
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "0", mode = "RW", type = "Disk" });
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VDI", vdi.ToString());
    }

    [Fact]
    public async Task Unknown_vbd_is_handle_invalid()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();
        using var response = await client.GetAsync($"/api/vbds/{id}", ct);
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VBD", id.ToString());
    }

    [Fact]
    public async Task Vm_admin_may_create_a_vbd()
    {
        using var admin = server.Client();
        var vm = await admin.CreateVm();
        var vdi = await admin.CreateVdi();
        using var client = await server.ClientWithRole("vm-admin");

        var id = await client.CreateVbd(vm, vdi);
        (await client.GetJson($"/api/vbds/{id}")).GetProperty("vm").GetGuid().ShouldBe(vm);
    }

    [Fact]
    public async Task Vm_operator_may_not_create_a_vbd()
    {
        using var admin = server.Client();
        var vm = await admin.CreateVm();
        var vdi = await admin.CreateVdi();
        using var client = await server.ClientWithRole("vm-operator");

        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "0", mode = "RW", type = "Disk" });
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "VBD.create", "vm-operator");
    }
}
