/*
 * A minimal 64-bit "kernel" for fast VMM tests: entered in long mode like
 * Linux (RSI = zero page), it prints the command line the VMM passed
 * (boot_params.hdr.cmd_line_ptr at zero page + 0x228) on the 8250, then
 * writes the number given as "code=<digit>" ... here simply: writes the
 * byte at cmdline[0] - '0' to the debug-exit port, or halts if the command
 * line starts with 'h', or triple-faults if it starts with 't'.
 */
	.code64
	.section .text
	.globl _start
_start:
	mov	0x228(%rsi), %ebx	/* cmd_line_ptr */
	mov	$0x3f8, %dx
1:	movb	(%rbx), %al
	test	%al, %al
	jz	2f
	outb	%al, %dx
	inc	%rbx
	jmp	1b
2:	movb	$'\n', %al
	outb	%al, %dx
	mov	0x228(%rsi), %ebx
	movb	(%rbx), %al
	cmpb	$'t', %al
	je	3f
	cmpb	$'r', %al
	je	4f
	sub	$'0', %al
	mov	$0x501, %dx
	outb	%al, %dx
	hlt
3:	lidt	null_idt(%rip)		/* no IDT: the next fault triple-faults */
	ud2
4:	mov	$0x64, %dx		/* i8042 reset, as reboot=k does */
	movb	$0xfe, %al
	outb	%al, %dx
	hlt

	.section .rodata
null_idt:
	.word	0
	.quad	0
